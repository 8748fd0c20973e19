#!/usr/bin/env node
// A KafkaJS session against one broker: admin, producers (acks -1/1, keys, headers, gzip,
// idempotent), a two-member consumer group reading a 4-partition topic exactly once, and a
// restarted consumer resuming from the committed offsets.
//
// Usage: node kafkajs_session.js HOST:PORT [--transactions]
//        (or BOOTSTRAP=HOST:PORT in the environment)
// --transactions also runs a transactional producer (transactions are not finished yet).
//
// Prints one line per step; on the first thing that differs from a Kafka broker's answer it
// prints a sentence naming the mismatch and exits 1. Every wait has a deadline.
'use strict'

const crypto = require('crypto')
const { Kafka, logLevel, CompressionTypes, ConfigResourceTypes } = require('kafkajs')

// Milliseconds any single wait in the session may take.
const STEP_TIMEOUT_MS = 30000

class Mismatch extends Error {}

function step(text) {
  console.log(`--- ${text}`)
}

function expect(condition, message) {
  if (!condition) throw new Mismatch(message)
}

function expectEq(got, want, what) {
  const g = JSON.stringify(got)
  const w = JSON.stringify(want)
  if (g !== w) throw new Mismatch(`${what}: expected ${w}, got ${g}`)
}

function topicName(prefix) {
  return `${prefix}-${crypto.randomBytes(5).toString('hex')}`
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/** Polls `condition()` until it returns a truthy value (returned) or fails naming `what`. */
async function waitUntil(what, condition, timeoutMs = STEP_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs
  let lastError = null
  while (Date.now() < deadline) {
    try {
      const value = await condition()
      if (value) return value
    } catch (e) {
      lastError = e
    }
    await sleep(100)
  }
  const detail = lastError ? ` (last error: ${lastError.message})` : ''
  const described = typeof what === 'function' ? what() : what
  throw new Mismatch(`timed out after ${timeoutMs} ms waiting for ${described}${detail}`)
}

/** Rejects with a mismatch naming `what` if `promise` does not settle within the step timeout. */
async function bounded(what, promise, timeoutMs = STEP_TIMEOUT_MS) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Mismatch(`${what} did not finish within ${timeoutMs} ms`)),
      timeoutMs
    )
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

function bootstrapFromArgs() {
  const positional = process.argv.slice(2).filter(a => !a.startsWith('--'))
  const addr = positional[0] || process.env.BOOTSTRAP
  if (!addr) {
    console.error('usage: node kafkajs_session.js HOST:PORT (or BOOTSTRAP=HOST:PORT)')
    process.exit(2)
  }
  return addr
}

/** Partition -> {low, high} as numbers, from admin.fetchTopicOffsets. */
async function topicOffsets(admin, topic) {
  const offsets = await bounded(`fetchTopicOffsets(${topic})`, admin.fetchTopicOffsets(topic))
  const byPartition = {}
  for (const o of offsets) {
    byPartition[o.partition] = { low: Number(o.low), high: Number(o.high) }
  }
  return byPartition
}

async function adminSession(kafka, admin) {
  const topic = topicName('js-admin')

  step(`createTopics ${topic} with 2 partitions and configs`)
  const created = await bounded(
    'createTopics',
    admin.createTopics({
      topics: [
        {
          topic,
          numPartitions: 2,
          replicationFactor: 1,
          configEntries: [
            { name: 'retention.ms', value: '3600000' },
            { name: 'max.message.bytes', value: '200000' },
          ],
        },
      ],
      waitForLeaders: true,
    })
  )
  expectEq(created, true, 'createTopics result for a new topic')
  const again = await bounded(
    'createTopics (existing)',
    admin.createTopics({ topics: [{ topic, numPartitions: 2 }] })
  )
  expectEq(again, false, 'createTopics result for an existing topic')

  step('listTopics and fetchTopicMetadata')
  const listed = await bounded('listTopics', admin.listTopics())
  expect(listed.includes(topic), `listTopics does not list ${topic}: ${JSON.stringify(listed)}`)
  let metadata = await bounded('fetchTopicMetadata', admin.fetchTopicMetadata({ topics: [topic] }))
  expectEq(metadata.topics.length, 1, 'topics in fetchTopicMetadata')
  expectEq(metadata.topics[0].name, topic, 'fetchTopicMetadata topic name')
  const partitionIds = metadata.topics[0].partitions.map(p => p.partitionId).sort()
  expectEq(partitionIds, [0, 1], 'partition ids in fetchTopicMetadata')
  for (const p of metadata.topics[0].partitions) {
    expectEq(p.partitionErrorCode, 0, `error code of partition ${p.partitionId}`)
    expect(p.leader >= 0, `partition ${p.partitionId} has no leader: ${JSON.stringify(p)}`)
  }

  step('describeConfigs')
  const described = await bounded(
    'describeConfigs',
    admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: topic,
          configNames: ['retention.ms', 'max.message.bytes', 'cleanup.policy'],
        },
      ],
    })
  )
  expectEq(described.resources.length, 1, 'resources in describeConfigs')
  const resource = described.resources[0]
  expectEq(resource.errorCode, 0, 'describeConfigs error code')
  const configs = {}
  for (const e of resource.configEntries) configs[e.configName] = e
  expectEq(configs['retention.ms'] && configs['retention.ms'].configValue, '3600000', 'retention.ms')
  expectEq(configs['retention.ms'].isDefault, false, 'retention.ms isDefault')
  expectEq(
    configs['max.message.bytes'] && configs['max.message.bytes'].configValue,
    '200000',
    'max.message.bytes'
  )
  expectEq(
    configs['cleanup.policy'] && configs['cleanup.policy'].configValue,
    'delete',
    'cleanup.policy (default)'
  )

  step('createPartitions 2 -> 4')
  await bounded(
    'createPartitions',
    admin.createPartitions({ topicPartitions: [{ topic, count: 4 }] })
  )
  metadata = await waitUntil('4 partitions in fetchTopicMetadata', async () => {
    const m = await admin.fetchTopicMetadata({ topics: [topic] })
    return m.topics[0].partitions.length === 4 ? m : null
  })
  expectEq(
    metadata.topics[0].partitions.map(p => p.partitionId).sort(),
    [0, 1, 2, 3],
    'partition ids after createPartitions'
  )

  step('produce 10 records with timestamps to partition 0, then fetchTopicOffsets')
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await bounded('producer.connect', producer.connect())
  const baseTimestamp = Date.now() - 100000
  const records = []
  for (let i = 0; i < 10; i++) {
    records.push({
      partition: 0,
      value: `ts-${i}`,
      timestamp: String(baseTimestamp + i * 1000),
    })
  }
  const sent = await bounded('send', producer.send({ topic, acks: -1, messages: records }))
  expectEq(sent.length, 1, 'partitions in the send result')
  expectEq(Number(sent[0].baseOffset), 0, 'base offset of the first batch')
  await producer.disconnect()
  let offsets = await topicOffsets(admin, topic)
  expectEq(offsets[0], { low: 0, high: 10 }, 'offsets of partition 0')
  for (const p of [1, 2, 3]) expectEq(offsets[p], { low: 0, high: 0 }, `offsets of partition ${p}`)

  step('fetchTopicOffsetsByTimestamp')
  const byTimestamp = async ts => {
    const r = await bounded(
      'fetchTopicOffsetsByTimestamp',
      admin.fetchTopicOffsetsByTimestamp(topic, ts)
    )
    const m = {}
    for (const o of r) m[o.partition] = Number(o.offset)
    return m
  }
  let ts = await byTimestamp(baseTimestamp + 3500)
  expectEq(ts[0], 4, 'offset for a timestamp between records 3 and 4')
  expectEq(ts[1], 0, 'offset for a timestamp on an empty partition (its high watermark)')
  ts = await byTimestamp(baseTimestamp)
  expectEq(ts[0], 0, 'offset for the first record timestamp')
  ts = await byTimestamp(Date.now() + 3600000)
  expectEq(ts[0], 10, 'offset for a future timestamp (the high watermark)')

  step('deleteTopicRecords up to offset 4')
  await bounded(
    'deleteTopicRecords',
    admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '4' }] })
  )
  offsets = await topicOffsets(admin, topic)
  expectEq(offsets[0], { low: 4, high: 10 }, 'offsets of partition 0 after deleteTopicRecords')
  ts = await byTimestamp(baseTimestamp)
  expectEq(ts[0], 4, 'offset for a deleted record timestamp (the new log start)')

  step('deleteTopics')
  await bounded('deleteTopics', admin.deleteTopics({ topics: [topic], timeout: 10000 }))
  await waitUntil(`${topic} to leave listTopics`, async () => {
    const names = await admin.listTopics()
    return !names.includes(topic)
  })
}

/** The records produced to the group topic: keys, headers, values known per index. */
function groupRecord(i) {
  return {
    key: `key-${i % 17}`,
    value: `value-${i}`,
    headers: { index: String(i), origin: 'kafkajs' },
  }
}

async function producerSession(kafka, topic, from, count) {
  step(`produce records ${from}..${from + count - 1} (keys, headers, gzip, acks -1 and 1)`)
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await bounded('producer.connect', producer.connect())
  const half = Math.floor(count / 2)
  const batches = [
    { acks: -1, compression: CompressionTypes.GZIP, from, to: from + half },
    { acks: 1, compression: CompressionTypes.None, from: from + half, to: from + count },
  ]
  for (const b of batches) {
    const messages = []
    for (let i = b.from; i < b.to; i++) messages.push(groupRecord(i))
    const result = await bounded(
      `send acks=${b.acks}`,
      producer.send({ topic, acks: b.acks, compression: b.compression, messages })
    )
    for (const r of result) {
      expectEq(r.errorCode, 0, `send error code for partition ${r.partition}`)
    }
  }
  await producer.disconnect()
}

async function idempotentSession(kafka, admin) {
  const topic = topicName('js-idem')
  step(`idempotent producer to ${topic}`)
  await bounded(
    'createTopics',
    admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
  )
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  })
  await bounded('idempotent producer.connect', producer.connect())
  let expectedOffset = 0
  for (let batch = 0; batch < 5; batch++) {
    const messages = []
    for (let i = 0; i < 10; i++) messages.push({ key: `k${i}`, value: `idem-${batch}-${i}` })
    const result = await bounded(
      'idempotent send',
      producer.send({
        topic,
        acks: -1,
        compression: batch % 2 ? CompressionTypes.GZIP : CompressionTypes.None,
        messages,
      })
    )
    expectEq(result[0].errorCode, 0, 'idempotent send error code')
    expectEq(Number(result[0].baseOffset), expectedOffset, `base offset of idempotent batch ${batch}`)
    expectEq(
      producer.isIdempotent(),
      true,
      'producer.isIdempotent() after an idempotent send'
    )
    expectedOffset += messages.length
  }
  await producer.disconnect()
  const offsets = await topicOffsets(admin, topic)
  expectEq(offsets[0], { low: 0, high: 50 }, 'offsets after 5 idempotent batches of 10')
  const values = await readAll(kafka, topic, 50)
  for (let batch = 0; batch < 5; batch++) {
    for (let i = 0; i < 10; i++) {
      const offset = batch * 10 + i
      expectEq(values[`0:${offset}`], `idem-${batch}-${i}`, `idempotent record at offset ${offset}`)
    }
  }
  await admin.deleteTopics({ topics: [topic], timeout: 10000 })
}

/** Reads `count` records of `topic` with a throwaway group; returns "partition:offset" -> value. */
async function readAll(kafka, topic, count) {
  const consumer = kafka.consumer({ groupId: topicName('js-reader'), maxWaitTimeInMs: 200 })
  const seen = {}
  await bounded('reader connect', consumer.connect())
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        seen[`${partition}:${message.offset}`] = message.value.toString()
      },
    })
    await waitUntil(`${count} records of ${topic}`, () => Object.keys(seen).length >= count)
  } finally {
    await consumer.disconnect()
  }
  expectEq(Object.keys(seen).length, count, `records read from ${topic}`)
  return seen
}

/**
 * A group member that checks each record against groupRecord(index) and counts deliveries of
 * each (partition, offset).
 */
function groupMember(kafka, groupId, name, deliveries) {
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 10000,
    rebalanceTimeout: 10000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 200,
  })
  const member = { consumer, name, joins: [], errors: [] }
  consumer.on(consumer.events.GROUP_JOIN, e => member.joins.push(e.payload))
  consumer.on(consumer.events.CRASH, e => member.errors.push(e.payload.error))
  member.eachMessage = async ({ partition, message }) => {
    const where = `${partition}:${message.offset}`
    try {
      const index = Number(message.headers.index.toString())
      const want = groupRecord(index)
      expectEq(message.key.toString(), want.key, `key at ${where}`)
      expectEq(message.value.toString(), want.value, `value at ${where}`)
      expectEq(message.headers.origin.toString(), 'kafkajs', `origin header at ${where}`)
      const previous = deliveries.get(index)
      if (previous) {
        member.errors.push(
          new Mismatch(`record ${index} delivered twice: at ${previous} and at ${name} ${where}`)
        )
      }
      deliveries.set(index, `${name} ${where}`)
    } catch (e) {
      member.errors.push(e)
    }
  }
  return member
}

function failOnMemberErrors(members) {
  for (const m of members) {
    if (m.errors.length > 0) {
      throw new Mismatch(`consumer ${m.name}: ${m.errors[0].message || m.errors[0]}`)
    }
  }
}

async function groupSession(kafka, admin) {
  const topic = topicName('js-group')
  const groupId = topicName('js-group')
  const firstCount = 200
  const secondCount = 60

  step(`createTopics ${topic} with 4 partitions`)
  await bounded(
    'createTopics',
    admin.createTopics({ topics: [{ topic, numPartitions: 4 }], waitForLeaders: true })
  )
  await producerSession(kafka, topic, 0, firstCount)
  let offsets = await topicOffsets(admin, topic)
  let total = Object.values(offsets).reduce((sum, o) => sum + o.high, 0)
  expectEq(total, firstCount, 'records in the group topic after the first produce')

  step(`two consumers in group ${groupId}: join while paused, then read from the beginning`)
  const deliveries = new Map()
  const members = [
    groupMember(kafka, groupId, 'A', deliveries),
    groupMember(kafka, groupId, 'B', deliveries),
  ]
  for (const m of members) {
    await bounded(`consumer ${m.name} connect`, m.consumer.connect())
    await m.consumer.subscribe({ topics: [topic], fromBeginning: true })
    // run() creates the group synchronously before its first await: pause right away so
    // nothing is fetched until both members share one generation (no rebalance mid-read).
    const running = m.consumer.run({ eachMessage: m.eachMessage })
    m.consumer.pause([{ topic }])
    await bounded(`consumer ${m.name} run`, running)
  }
  // GROUP_JOIN carries no generation id: the group is settled when each member's latest
  // assignment holds 2 partitions and together they cover all 4.
  await waitUntil(
    () => `both members to hold 2 partitions each (joins: ${JSON.stringify(members.map(m => m.joins))})`,
    () => {
      failOnMemberErrors(members)
      const last = members.map(m => m.joins[m.joins.length - 1])
      if (last.some(j => !j)) return false
      const assigned = last.map(j => j.memberAssignment[topic] || [])
      return (
        assigned.every(a => a.length === 2) &&
        JSON.stringify(assigned.flat().sort()) === JSON.stringify([0, 1, 2, 3])
      )
    }
  )
  const joinsBeforeReading = members.map(m => m.joins.length)
  for (const m of members) m.consumer.resume([{ topic }])

  await waitUntil(`all ${firstCount} records delivered`, () => {
    failOnMemberErrors(members)
    return deliveries.size >= firstCount
  })

  step('committed offsets reach the high watermarks')
  await waitUntil('committed offsets equal to the high watermarks', async () => {
    failOnMemberErrors(members)
    const committed = await admin.fetchOffsets({ groupId, topics: [topic] })
    const parts = committed[0].partitions
    return parts.length === 4 && parts.every(p => Number(p.offset) === offsets[p.partition].high)
  })
  const described = await bounded('describeGroups', admin.describeGroups([groupId]))
  expectEq(described.groups[0].state, 'Stable', 'group state with two members')
  expectEq(described.groups[0].members.length, 2, 'members in describeGroups')
  expectEq(
    members.map(m => m.joins.length),
    joinsBeforeReading,
    'group joins per member (no rebalance while reading)'
  )
  failOnMemberErrors(members)
  expectEq(deliveries.size, firstCount, 'distinct records delivered')
  for (const m of members) await bounded(`consumer ${m.name} disconnect`, m.consumer.disconnect())

  await producerSession(kafka, topic, firstCount, secondCount)
  offsets = await topicOffsets(admin, topic)
  total = Object.values(offsets).reduce((sum, o) => sum + o.high, 0)
  expectEq(total, firstCount + secondCount, 'records in the group topic after the second produce')

  step('a restarted consumer resumes from the committed offsets')
  const restarted = groupMember(kafka, groupId, 'A2', deliveries)
  await bounded('restarted consumer connect', restarted.consumer.connect())
  await restarted.consumer.subscribe({ topics: [topic], fromBeginning: true })
  await bounded('restarted consumer run', restarted.consumer.run({ eachMessage: restarted.eachMessage }))
  await waitUntil(`all ${firstCount + secondCount} records delivered`, () => {
    failOnMemberErrors([restarted])
    return deliveries.size >= firstCount + secondCount
  })
  await waitUntil('committed offsets equal to the new high watermarks', async () => {
    failOnMemberErrors([restarted])
    const committed = await admin.fetchOffsets({ groupId, topics: [topic] })
    const parts = committed[0].partitions
    return parts.length === 4 && parts.every(p => Number(p.offset) === offsets[p.partition].high)
  })
  failOnMemberErrors([restarted])
  await bounded('restarted consumer disconnect', restarted.consumer.disconnect())
  expectEq(deliveries.size, firstCount + secondCount, 'distinct records delivered in total')
  const described2 = await bounded('describeGroups', admin.describeGroups([groupId]))
  expectEq(described2.groups[0].state, 'Empty', 'group state after every member left')

  step('listGroups, setOffsets, resetOffsets and deleteGroups on the empty group')
  const listed = await bounded('listGroups', admin.listGroups())
  expect(
    listed.groups.some(g => g.groupId === groupId && g.protocolType === 'consumer'),
    `listGroups does not list ${groupId} as a consumer group: ${JSON.stringify(listed.groups)}`
  )
  await bounded(
    'setOffsets',
    admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '1' }] })
  )
  let committed = await bounded('fetchOffsets', admin.fetchOffsets({ groupId, topics: [topic] }))
  const byPartition = {}
  for (const p of committed[0].partitions) byPartition[p.partition] = Number(p.offset)
  expectEq(byPartition[0], 1, 'committed offset of partition 0 after setOffsets')
  expectEq(byPartition[1], offsets[1].high, 'committed offset of partition 1 after setOffsets')
  await bounded('resetOffsets', admin.resetOffsets({ groupId, topic, earliest: true }))
  committed = await bounded('fetchOffsets', admin.fetchOffsets({ groupId, topics: [topic] }))
  expectEq(
    committed[0].partitions.map(p => Number(p.offset)),
    [-2, -2, -2, -2],
    'committed offsets after resetOffsets(earliest) (KafkaJS commits -2, meaning earliest)'
  )
  const deleted = await bounded('deleteGroups', admin.deleteGroups([groupId]))
  expectEq(deleted.map(d => [d.groupId, d.errorCode]), [[groupId, 0]], 'deleteGroups result')
  const afterDelete = await bounded('listGroups', admin.listGroups())
  expect(
    !afterDelete.groups.some(g => g.groupId === groupId),
    `listGroups still lists the deleted group ${groupId}`
  )
}

async function transactionalSession(kafka, admin) {
  const topic = topicName('js-txn')
  step(`transactional producer to ${topic}`)
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
  const producer = kafka.producer({
    transactionalId: topicName('js-txn-id'),
    idempotent: true,
    maxInFlightRequests: 1,
  })
  await bounded('transactional producer.connect', producer.connect())
  const committed = await producer.transaction()
  await committed.send({ topic, messages: [{ value: 'committed-1' }, { value: 'committed-2' }] })
  await bounded('commit', committed.commit())
  const aborted = await producer.transaction()
  await aborted.send({ topic, messages: [{ value: 'aborted' }] })
  await bounded('abort', aborted.abort())
  // A record committed after the abort: reading up to it reads past the aborted range.
  const after = await producer.transaction()
  await after.send({ topic, messages: [{ value: 'after-abort' }] })
  await bounded('commit after the abort', after.commit())
  await producer.disconnect()
  const consumer = kafka.consumer({ groupId: topicName('js-txn-reader'), readUncommitted: false })
  const values = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => values.push(message.value.toString()) })
    await waitUntil('the record committed after the abort', () => values.includes('after-abort'))
  } finally {
    await consumer.disconnect()
  }
  expectEq(
    values,
    ['committed-1', 'committed-2', 'after-abort'],
    'records read_committed up to one committed after the abort'
  )
}

async function main() {
  const bootstrap = bootstrapFromArgs()
  const withTransactions = process.argv.includes('--transactions')
  const kafka = new Kafka({
    clientId: 'ironlog-kafkajs-session',
    brokers: [bootstrap],
    logLevel: process.env.KAFKAJS_LOG_LEVEL ? Number(process.env.KAFKAJS_LOG_LEVEL) : logLevel.WARN,
    connectionTimeout: 5000,
    requestTimeout: 15000,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
  })
  const admin = kafka.admin()
  await bounded('admin.connect', admin.connect())
  try {
    step('describeCluster')
    const cluster = await bounded('describeCluster', admin.describeCluster())
    expectEq(cluster.brokers.length, 1, 'brokers in describeCluster')
    expect(cluster.controller !== null, `describeCluster has no controller: ${JSON.stringify(cluster)}`)
    expect(cluster.clusterId, `describeCluster has no cluster id: ${JSON.stringify(cluster)}`)
    await adminSession(kafka, admin)
    await idempotentSession(kafka, admin)
    await groupSession(kafka, admin)
    if (withTransactions) await transactionalSession(kafka, admin)
  } finally {
    await admin.disconnect()
  }
  console.log('kafkajs session: all checks passed')
}

main().then(
  () => process.exit(0),
  e => {
    if (e instanceof Mismatch) {
      console.error(`MISMATCH: ${e.message}`)
    } else {
      console.error(`ERROR: ${e.name || 'Error'}: ${e.message}`)
      if (e.type) console.error(`  kafka error type: ${e.type}`)
      if (e.stack) console.error(e.stack)
    }
    process.exit(1)
  }
)
