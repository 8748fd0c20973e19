#!/usr/bin/env bash
# kafka-reference.sh — run the Java sessions against Apache Kafka 4.1 instead of Ironlog.
#
# The expectations in src/main/java (the sessions' checks, the CLI tools' expected output)
# are what Apache Kafka answers. This script is how they were taken and how to check them
# again: it starts one combined KRaft node from the Maven jars (kafka_2.13:
# `kafka.tools.StorageTool format`, then `kafka.Kafka`) on free loopback ports with the
# settings java_clients.rs gives Ironlog, runs the sessions named (default: all) against it
# and stops it. The test suite never needs it.
#
# Usage: ./kafka-reference.sh [ClientSession|AdminSession|ClientBasics|ToolsSession|AclSession|QuotaSession|ScramSession ...]
#        PRINT=1 ./kafka-reference.sh ToolsSession   # also print every tool's output
#        HOLD=1 ./kafka-reference.sh                 # keep Kafka running afterwards (Ctrl-C stops it)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
SESSIONS=("$@")
[ ${#SESSIONS[@]} -gt 0 ] || SESSIONS=(ClientSession AdminSession ClientBasics ToolsSession AclSession QuotaSession ScramSession)

mvn -B -q compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
(cd legacy && mvn -B -q dependency:build-classpath -Dmdep.outputFile=target/classpath.txt)
CP="target/classes:$(cat target/classpath.txt)"
LEGACY_CP="target/classes:$(cat legacy/target/classpath.txt)"

DIR=$(mktemp -d /tmp/kafka-reference.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port); CPORT=$(free_port)
cat > "$DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
# AclSession's ACLs: the StandardAuthorizer, with this PLAINTEXT listener's principal
# (User:ANONYMOUS) a super user, so the other sessions see what they see without one.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
PROPS
KAFKA_PID=""
cleanup() {
  local rc=$?
  if [ -n "$KAFKA_PID" ]; then kill "$KAFKA_PID" 2>/dev/null && wait "$KAFKA_PID" 2>/dev/null || true; fi
  rm -rf "$DIR"
  exit $rc
}
trap cleanup EXIT
# Formatted with the features Ironlog implements: no eligible leader replicas (KIP-966) and
# transaction version 0 (no KIP-890 epoch bump per transaction); Kafka 4.1's defaults are 1
# and 2. The rest is Kafka's default (metadata.version 4.1-IV1, group.version 1).
java -cp "$CP" kafka.tools.StorageTool format -t "$(java -cp "$CP" kafka.tools.StorageTool random-uuid)" \
  -c "$DIR/server.properties" --feature eligible.leader.replicas.version=0 --feature transaction.version=0 >/dev/null
java -Xmx1G -Xms1G -cp "$CP" -Dlog4j2.configurationFile="$HERE/src/main/resources/log4j2.properties" \
  kafka.Kafka "$DIR/server.properties" >"$DIR/kafka.log" 2>&1 &
KAFKA_PID=$!
for _ in $(seq 1 300); do
  (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  kill -0 "$KAFKA_PID" 2>/dev/null || { echo "Kafka exited:"; tail -30 "$DIR/kafka.log"; exit 1; }
  sleep 0.2
done
echo "Apache Kafka 4.1 on 127.0.0.1:$PORT (log: $DIR/kafka.log)"
status=0
for s in "${SESSIONS[@]}"; do
  cp_for=$CP; [ "$s" = ClientBasics ] && cp_for=$LEGACY_CP
  echo "=== $s"
  java -cp "$cp_for" ${PRINT:+-Dironlog.print=1} "ironlog.$s" "127.0.0.1:$PORT" || status=1
done
if [ -n "${HOLD:-}" ]; then echo "holding Kafka on 127.0.0.1:$PORT"; wait "$KAFKA_PID"; fi
exit $status
