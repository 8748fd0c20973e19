#!/usr/bin/env python3
"""Writes the Grafana dashboards under charts/dashboards/ (run: python3 charts/generate_dashboards.py).

Edit the panels here and regenerate; broker/tests/dashboards.rs runs every query against a
real Prometheus scraping a broker and a canary. Metric names: docs/metrics.md. The operator's
dashboard goes into its chart (charts/ironlog-operator/dashboards/); its metric names are
operator/src/metrics.rs's, which operator/tests/observability.rs and manifests.rs check."""
import os
os.chdir(os.path.dirname(os.path.abspath(__file__)))
import json
DS = {"type": "prometheus", "uid": "${datasource}"}
RI = "$__rate_interval"
def var_ds():
    return {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source", "current": {}, "hide": 0}
def var_q(name, metric, label, multi=True):
    return {"name": name, "type": "query", "datasource": DS, "query": f"label_values({metric}, {label})",
            "definition": f"label_values({metric}, {label})", "refresh": 2, "includeAll": True, "multi": multi,
            "allValue": ".*", "current": {"selected": True, "text": "All", "value": "$__all"}, "hide": 0, "label": label}
class D:
    def __init__(s, uid, title, vars):
        s.uid, s.title, s.vars, s.panels, s.y, s.x, s.id = uid, title, vars, [], 0, 0, 1
    def panel(s, kind, title, exprs, unit="short", w=12, h=8, desc="", steps=None):
        if s.x + w > 24:
            s.x = 0; s.y += s.h
        s.h = h
        targets = [{"datasource": DS, "expr": e, "legendFormat": l, "refId": chr(65+i)} for i,(e,l) in enumerate(exprs)]
        p = {"id": s.id, "type": kind, "title": title, "description": desc, "datasource": DS,
             "gridPos": {"x": s.x, "y": s.y, "w": w, "h": h}, "targets": targets,
             "fieldConfig": {"defaults": {"unit": unit}, "overrides": []}, "options": {}}
        if kind == "stat":
            p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "colorMode": "background"}
            p["fieldConfig"]["defaults"]["thresholds"] = {"mode": "absolute", "steps": steps or [{"color": "green", "value": None}, {"color": "red", "value": 1}]}
        s.panels.append(p); s.id += 1; s.x += w
    def write(s, path):
        d = {"uid": s.uid, "title": s.title, "tags": ["ironlog", "kafka"], "timezone": "browser", "schemaVersion": 39,
             "version": 1, "editable": True, "refresh": "30s", "time": {"from": "now-1h", "to": "now"},
             "templating": {"list": s.vars}, "panels": s.panels, "annotations": {"list": []}}
        json.dump(d, open(path, "w"), indent=2); open(path, "a").write("\n")

I = 'instance=~"$instance"'
# --- cluster overview
d = D("ironlog-cluster", "Ironlog / Cluster overview", [var_ds()])
for t, e in [("Brokers", "count(ironlog_broker_info)"),
             ("Active controllers", "sum(kafka_controller_kafkacontroller_activecontrollercount)"),
             ("Offline partitions", "sum(kafka_controller_kafkacontroller_offlinepartitionscount)"),
             ("Under-replicated partitions", "sum(kafka_server_replicamanager_underreplicatedpartitions)"),
             ("Under min ISR partitions", "sum(kafka_server_replicamanager_underminisrpartitioncount)"),
             ("Fenced brokers", "sum(kafka_controller_kafkacontroller_fencedbrokercount)")]:
    d.panel("stat", t, [(e, t)], w=4, h=4)
d.panel("stat", "Topics", [("sum(kafka_controller_kafkacontroller_globaltopiccount)", "topics")], w=4, h=4)
d.panel("stat", "Partitions", [("sum(kafka_controller_kafkacontroller_globalpartitioncount)", "partitions")], w=4, h=4)
d.panel("stat", "Offline log dirs", [("sum(kafka_log_logmanager_offlinelogdirectorycount)", "offline")], w=4, h=4)
d.panel("stat", "Consumer groups with lag", [("count(sum by (consumergroup) (kafka_consumergroup_lag) > 0) or vector(0)", "groups")], w=4, h=4)
d.panel("stat", "Lowest free log dir space", [("min(ironlog_log_dir_free_bytes / ironlog_log_dir_total_bytes)", "free")], unit="percentunit", w=8, h=4)
d.panel("timeseries", "Bytes in / out per second", [(f"sum(rate(kafka_server_brokertopicmetrics_bytesin_total[{RI}]))", "in"), (f"sum(rate(kafka_server_brokertopicmetrics_bytesout_total[{RI}]))", "out")], unit="Bps")
d.panel("timeseries", "Records in per second", [(f"sum(rate(kafka_server_brokertopicmetrics_messagesin_total[{RI}]))", "records")], unit="short")
d.panel("timeseries", "Requests per second by API", [(f"sum by (request) (rate(kafka_network_requestmetrics_requests_total[{RI}]))", "{{request}}")], unit="reqps")
d.panel("timeseries", "Produce and consumer fetch latency p99", [
    (f"histogram_quantile(0.99, sum by (le) (rate(kafka_network_requestmetrics_totaltimems_bucket{{request=\"Produce\"}}[{RI}])))", "Produce"),
    (f"histogram_quantile(0.99, sum by (le) (rate(kafka_network_requestmetrics_totaltimems_bucket{{request=\"FetchConsumer\"}}[{RI}])))", "FetchConsumer")], unit="ms")
d.write("dashboards/ironlog-cluster-overview.json")

# --- brokers
d = D("ironlog-brokers", "Ironlog / Brokers", [var_ds(), var_q("instance", "ironlog_broker_info", "instance")])
d.panel("timeseries", "Bytes in per second", [(f"sum by (instance) (rate(kafka_server_brokertopicmetrics_bytesin_total{{{I}}}[{RI}]))", "{{instance}}")], unit="Bps")
d.panel("timeseries", "Bytes out per second", [(f"sum by (instance) (rate(kafka_server_brokertopicmetrics_bytesout_total{{{I}}}[{RI}]))", "{{instance}}")], unit="Bps")
d.panel("timeseries", "Replication bytes out per second", [(f"sum by (instance) (rate(kafka_server_brokertopicmetrics_replicationbytesout_total{{{I}}}[{RI}]))", "{{instance}}")], unit="Bps")
d.panel("timeseries", "Requests per second", [(f"sum by (instance, request) (rate(kafka_network_requestmetrics_requests_total{{{I}}}[{RI}]))", "{{instance}} {{request}}")], unit="reqps")
d.panel("timeseries", "Error responses per second", [(f"sum by (instance, request, error) (rate(kafka_network_requestmetrics_errors_total{{error!=\"NONE\",{I}}}[{RI}]))", "{{instance}} {{request}} {{error}}")], unit="short")
for req in ["Produce", "FetchConsumer"]:
    d.panel("timeseries", f"{req} time p50 / p99 (total, local, send)", [
        (f"histogram_quantile(0.99, sum by (le, instance) (rate(kafka_network_requestmetrics_totaltimems_bucket{{request=\"{req}\",{I}}}[{RI}])))", "{{instance}} total p99"),
        (f"histogram_quantile(0.50, sum by (le, instance) (rate(kafka_network_requestmetrics_totaltimems_bucket{{request=\"{req}\",{I}}}[{RI}])))", "{{instance}} total p50"),
        (f"histogram_quantile(0.99, sum by (le, instance) (rate(kafka_network_requestmetrics_localtimems_bucket{{request=\"{req}\",{I}}}[{RI}])))", "{{instance}} local p99"),
        (f"histogram_quantile(0.99, sum by (le, instance) (rate(kafka_network_requestmetrics_responsesendtimems_bucket{{request=\"{req}\",{I}}}[{RI}])))", "{{instance}} send p99")], unit="ms")
d.panel("timeseries", "Open connections", [(f"sum by (instance, listener) (kafka_server_socket_server_metrics_connections{{{I}}})", "{{instance}} {{listener}}")])
d.panel("timeseries", "Connections accepted per second", [(f"sum by (instance, listener) (rate(kafka_server_socket_server_metrics_connection_creation_total{{{I}}}[{RI}]))", "{{instance}} {{listener}}")])
d.panel("timeseries", "Partitions and leaders", [(f"kafka_server_replicamanager_partitioncount{{{I}}}", "{{instance}} partitions"), (f"kafka_server_replicamanager_leadercount{{{I}}}", "{{instance}} leaders")])
d.panel("timeseries", "Under-replicated / at / under min ISR", [
    (f"kafka_server_replicamanager_underreplicatedpartitions{{{I}}}", "{{instance}} under-replicated"),
    (f"kafka_server_replicamanager_atminisrpartitioncount{{{I}}}", "{{instance}} at min ISR"),
    (f"kafka_server_replicamanager_underminisrpartitioncount{{{I}}}", "{{instance}} under min ISR")])
d.panel("timeseries", "ISR shrinks / expands per second", [
    (f"rate(kafka_server_replicamanager_isrshrinks_total{{{I}}}[{RI}])", "{{instance}} shrinks"),
    (f"rate(kafka_server_replicamanager_isrexpands_total{{{I}}}[{RI}])", "{{instance}} expands")])
d.panel("timeseries", "Metadata offsets behind the quorum", [(f"kafka_server_raft_metrics_high_watermark{{{I}}} - kafka_server_broker_metadata_metrics_last_applied_record_offset{{{I}}}", "{{instance}}")])
d.panel("timeseries", "Active controller", [(f"kafka_controller_kafkacontroller_activecontrollercount{{{I}}}", "{{instance}}")])
d.panel("timeseries", "Log dir space used", [(f"1 - ironlog_log_dir_free_bytes{{{I}}} / ironlog_log_dir_total_bytes{{{I}}}", "{{instance}} {{dir}}")], unit="percentunit")
d.panel("timeseries", "Partition data per log dir", [(f"ironlog_log_dir_partitions_bytes{{{I}}}", "{{instance}} {{dir}}")], unit="bytes")
d.write("dashboards/ironlog-brokers.json")

# --- topics
T = 'topic=~"$topic"'
d = D("ironlog-topics", "Ironlog / Topics", [var_ds(), var_q("topic", "kafka_log_log_size", "topic")])
d.panel("timeseries", "Bytes in per second by topic", [(f"sum by (topic) (rate(kafka_server_brokertopicmetrics_bytesin_total{{{T}}}[{RI}]))", "{{topic}}")], unit="Bps")
d.panel("timeseries", "Bytes out per second by topic", [(f"sum by (topic) (rate(kafka_server_brokertopicmetrics_bytesout_total{{{T}}}[{RI}]))", "{{topic}}")], unit="Bps")
d.panel("timeseries", "Records in per second by topic", [(f"sum by (topic) (rate(kafka_server_brokertopicmetrics_messagesin_total{{{T}}}[{RI}]))", "{{topic}}")])
d.panel("timeseries", "Failed produce / fetch partitions per second", [
    (f"sum by (topic) (rate(kafka_server_brokertopicmetrics_failedproducerequests_total{{{T}}}[{RI}]))", "{{topic}} produce"),
    (f"sum by (topic) (rate(kafka_server_brokertopicmetrics_failedfetchrequests_total{{{T}}}[{RI}]))", "{{topic}} fetch")])
d.panel("timeseries", "Log size by topic (all replicas)", [(f"sum by (topic) (kafka_log_log_size{{{T}}})", "{{topic}}")], unit="bytes")
d.panel("timeseries", "Records held by topic (end minus start offset, leaders)", [(f"sum by (topic) (kafka_topic_partition_current_offset{{{T}}} - kafka_topic_partition_oldest_offset{{{T}}})", "{{topic}}")])
d.panel("table", "Partitions: start, end offset and high watermark", [
    (f"kafka_log_log_logstartoffset{{{T}}}", "start"), (f"kafka_log_log_logendoffset{{{T}}}", "end"), (f"ironlog_partition_high_watermark{{{T}}}", "high watermark")], w=24)
d.panel("timeseries", "Under-replicated and under min ISR partitions by topic", [
    (f"sum by (topic) (kafka_cluster_partition_underreplicated{{{T}}})", "{{topic}} under-replicated"),
    (f"sum by (topic) (kafka_cluster_partition_underminisr{{{T}}})", "{{topic}} under min ISR")], w=24)
d.write("dashboards/ironlog-topics.json")

# --- consumer lag
G = 'consumergroup=~"$consumergroup",topic=~"$topic"'
d = D("ironlog-consumer-lag", "Ironlog / Consumer lag", [var_ds(), var_q("consumergroup", "kafka_consumergroup_lag", "consumergroup"), var_q("topic", "kafka_consumergroup_lag", "topic")])
d.panel("timeseries", "Lag by group and topic", [(f"sum by (consumergroup, topic) (kafka_consumergroup_lag{{{G}}})", "{{consumergroup}} {{topic}}")], w=24)
d.panel("timeseries", "Consumption rate (committed offsets per second)", [(f"sum by (consumergroup, topic) (deriv(kafka_consumergroup_current_offset{{{G}}}[5m]))", "{{consumergroup}} {{topic}}")])
d.panel("timeseries", "Production rate of the consumed topics", [(f"sum by (topic) (rate(kafka_server_brokertopicmetrics_messagesin_total{{topic=~\"$topic\"}}[{RI}]))", "{{topic}}")])
d.panel("table", "Lag per partition", [(f"kafka_consumergroup_lag{{{G}}}", "lag"), (f"kafka_consumergroup_current_offset{{{G}}}", "committed")], w=24)
d.write("dashboards/ironlog-consumer-lag.json")

# --- canary (ironlog canary, scraped as job="ironlog-canary")
B = 'broker=~"$broker"'
def availability(by, window):
    sel = f"{{{B}}}"
    ok = f"sum{by} (rate(ironlog_canary_records_produced_total{sel}[{window}]))"
    failed = f"sum{by} (rate(ironlog_canary_records_produced_failed_total{sel}[{window}]))"
    return f"{ok} / ({ok} + {failed})"
d = D("ironlog-canary", "Ironlog / Canary", [var_ds(), var_q("broker", "ironlog_canary_records_produced_total", "broker")])
d.panel("stat", "Records lost (1h)", [(f"sum(increase(ironlog_canary_records_lost_total{{{B}}}[1h]))", "lost")], w=4, h=4,
        desc="Acknowledged (acks=all) canary records never read back.")
d.panel("stat", "Duplicated (1h)", [(f"sum(increase(ironlog_canary_records_duplicated_total{{{B}}}[1h]))", "duplicated")], w=4, h=4)
d.panel("stat", "Out of order (1h)", [(f"sum(increase(ironlog_canary_records_out_of_order_total{{{B}}}[1h]))", "out of order")], w=4, h=4)
d.panel("stat", "Produce availability (5m)", [(availability("", "5m"), "available")], unit="percentunit", w=4, h=4,
        steps=[{"color": "red", "value": None}, {"color": "green", "value": 0.99}])
d.panel("stat", "Records waiting to be read", [("sum(ironlog_canary_records_pending)", "pending")], w=4, h=4,
        steps=[{"color": "green", "value": None}, {"color": "orange", "value": 10}])
d.panel("stat", "Brokers / canary partitions", [("max(ironlog_canary_brokers)", "brokers"), ("max(ironlog_canary_topic_partitions)", "partitions")], w=4, h=4,
        steps=[{"color": "blue", "value": None}])
d.panel("timeseries", "End-to-end latency p50 / p99 by broker", [
    (f"histogram_quantile(0.99, sum by (le, broker) (rate(ironlog_canary_records_end_to_end_latency_seconds_bucket{{{B}}}[{RI}])))", "{{broker}} p99"),
    (f"histogram_quantile(0.50, sum by (le, broker) (rate(ironlog_canary_records_end_to_end_latency_seconds_bucket{{{B}}}[{RI}])))", "{{broker}} p50")], unit="s",
    desc="From sending a canary record to reading it back, by the leader it was read from.")
d.panel("timeseries", "Produce latency (acks=all) p50 / p99 by broker", [
    (f"histogram_quantile(0.99, sum by (le, broker) (rate(ironlog_canary_records_produced_latency_seconds_bucket{{{B}}}[{RI}])))", "{{broker}} p99"),
    (f"histogram_quantile(0.50, sum by (le, broker) (rate(ironlog_canary_records_produced_latency_seconds_bucket{{{B}}}[{RI}])))", "{{broker}} p50")], unit="s")
d.panel("timeseries", "Produce availability by broker", [(availability(" by (broker)", RI), "{{broker}}")], unit="percentunit",
        desc="Share of canary produces to the partitions a broker leads that were acknowledged.")
d.panel("timeseries", "Partitions available (last produce and fetch)", [
    (f"ironlog_canary_produce_available{{{B}}}", "produce p{{partition}} via {{broker}}"),
    (f"ironlog_canary_consume_available{{{B}}}", "fetch p{{partition}} via {{broker}}")])
d.panel("timeseries", "Records produced / failed per second by broker", [
    (f"sum by (broker) (rate(ironlog_canary_records_produced_total{{{B}}}[{RI}]))", "{{broker}} produced"),
    (f"sum by (broker) (rate(ironlog_canary_records_produced_failed_total{{{B}}}[{RI}]))", "{{broker}} failed")])
d.panel("timeseries", "Records consumed / failed fetches per second by broker", [
    (f"sum by (broker) (rate(ironlog_canary_records_consumed_total{{{B}}}[{RI}]))", "{{broker}} consumed"),
    (f"sum by (broker) (rate(ironlog_canary_records_consumed_failed_total{{{B}}}[{RI}]))", "{{broker}} failed fetches")])
d.panel("timeseries", "Lost / duplicated / out-of-order records by broker", [
    (f"sum by (broker, reason) (increase(ironlog_canary_records_lost_total{{{B}}}[{RI}]))", "{{broker}} lost ({{reason}})"),
    (f"sum by (broker) (increase(ironlog_canary_records_duplicated_total{{{B}}}[{RI}]))", "{{broker}} duplicated"),
    (f"sum by (broker) (increase(ironlog_canary_records_out_of_order_total{{{B}}}[{RI}]))", "{{broker}} out of order")])
d.panel("timeseries", "Canary errors per second by kind", [("sum by (kind) (rate(ironlog_canary_errors_total[" + RI + "]))", "{{kind}}")],
        desc="Metadata, topic and partition creation, and ListOffsets failures.")
d.write("dashboards/ironlog-canary.json")

# --- operator (shipped in the operator's chart: charts/ironlog-operator/dashboards/; the
# operator's metrics are in operator/src/metrics.rs, and operator/tests/observability.rs
# checks every name used here is one of them)
C = 'controller=~"$controller"'
N = 'namespace=~"$namespace"'
d = D("ironlog-operator", "Ironlog / Operator", [var_ds(),
      var_q("controller", "ironlog_operator_reconciliations_total", "controller"),
      var_q("namespace", "ironlog_operator_resource_condition", "namespace")])
d.panel("stat", "Operator up", [('max(up{job="ironlog-operator"})', "up")], w=4, h=4,
        steps=[{"color": "red", "value": None}, {"color": "green", "value": 1}])
d.panel("stat", "Reconciles per second", [(f"sum(rate(ironlog_operator_reconciliations_total{{{C}}}[{RI}]))", "reconciles")], unit="reqps", w=4, h=4,
        steps=[{"color": "blue", "value": None}])
d.panel("stat", "Failed reconciles (share)", [(f"sum(rate(ironlog_operator_reconciliations_total{{result=\"error\",{C}}}[{RI}])) / sum(rate(ironlog_operator_reconciliations_total{{{C}}}[{RI}]))", "failed")],
        unit="percentunit", w=4, h=4, steps=[{"color": "green", "value": None}, {"color": "orange", "value": 0.05}, {"color": "red", "value": 0.5}])
d.panel("stat", "KafkaClusters Ready", [(f"sum(ironlog_operator_resource_condition{{controller=\"kafkacluster\",type=\"Ready\",{N}}}) or vector(0)", "ready"),
        (f"count(ironlog_operator_resource_condition{{controller=\"kafkacluster\",type=\"Ready\",{N}}}) or vector(0)", "all")], w=4, h=4,
        steps=[{"color": "blue", "value": None}])
d.panel("stat", "Degraded resources", [(f"sum(ironlog_operator_resource_condition{{type=\"Degraded\",{N}}}) or vector(0)", "degraded")], w=4, h=4)
d.panel("stat", "Brokers ready / wanted", [(f"sum(ironlog_operator_cluster_brokers_ready{{{N}}}) or vector(0)", "ready"), (f"sum(ironlog_operator_cluster_brokers{{{N}}}) or vector(0)", "wanted")], w=4, h=4,
        steps=[{"color": "blue", "value": None}])
d.panel("timeseries", "Reconciles per second by controller and result", [(f"sum by (controller, result) (rate(ironlog_operator_reconciliations_total{{{C}}}[{RI}]))", "{{controller}} {{result}}")], unit="reqps")
d.panel("timeseries", "Failed reconciles per second by reason", [(f"sum by (controller, reason) (rate(ironlog_operator_reconcile_failures_total{{{C}}}[{RI}]))", "{{controller}} {{reason}}")],
        desc="The reason is the kind of error: an API call refused or failed, the brokers unreachable, a conflict.")
d.panel("timeseries", "Reconcile duration p50 / p99 by controller", [
    (f"histogram_quantile(0.99, sum by (le, controller) (rate(ironlog_operator_reconcile_duration_seconds_bucket{{{C}}}[{RI}])))", "{{controller}} p99"),
    (f"histogram_quantile(0.50, sum by (le, controller) (rate(ironlog_operator_reconcile_duration_seconds_bucket{{{C}}}[{RI}])))", "{{controller}} p50")], unit="s")
d.panel("timeseries", "Mean reconcile duration by controller", [
    (f"sum by (controller) (rate(ironlog_operator_reconcile_duration_seconds_sum{{{C}}}[{RI}])) / sum by (controller) (rate(ironlog_operator_reconcile_duration_seconds_count{{{C}}}[{RI}]))", "{{controller}}")], unit="s")
d.panel("timeseries", "Brokers ready and wanted by cluster", [
    (f"sum by (namespace, cluster) (ironlog_operator_cluster_brokers_ready{{{N}}})", "{{namespace}}/{{cluster}} ready"),
    (f"sum by (namespace, cluster) (ironlog_operator_cluster_brokers{{{N}}})", "{{namespace}}/{{cluster}} wanted")])
d.panel("timeseries", "Resources not Ready or Degraded", [
    (f"sum by (controller) (1 - ironlog_operator_resource_condition{{type=\"Ready\",{N}}})", "{{controller}} not Ready"),
    (f"sum by (controller) (ironlog_operator_resource_condition{{type=\"Degraded\",{N}}})", "{{controller}} Degraded")],
    desc="Per controller, the resources whose Ready condition is not True, and those whose Degraded condition is True.")
d.panel("table", "Conditions by resource", [(f"ironlog_operator_resource_condition{{{N}}}", "")], w=24, h=8,
        desc="1: the condition is True. Paused resources are not reconciled until their ironlog.dev/paused annotation is removed.")
d.write("ironlog-operator/dashboards/ironlog-operator.json")
