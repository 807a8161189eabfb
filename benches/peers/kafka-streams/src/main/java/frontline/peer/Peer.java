package frontline.peer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.TimestampExtractor;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.apache.kafka.streams.state.ReadOnlyWindowStore;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.state.WindowStoreIterator;

/**
 * The KPI subset of frontline as a Kafka Streams application: tickets created
 * and resolved per queue, a first-response-time histogram per queue, the
 * resolution count of the last hour of event time, and one 24x7
 * first-response SLA with a 4 h target. See README.md for the mapping to SPEC.
 *
 * <p>Usage: Peer BROKERS TOPIC APPLICATION_ID EVENTS. Prints "consumed" once
 * EVENTS records were processed, then the final aggregates as one JSON line.
 */
public final class Peer {
  static final long SLA_MS = 4 * 3600_000L;
  static final long LATENESS_MS = 10 * 60_000L;
  static final long PANE_MS = 10_000L;
  static final long WINDOW_MS = 3600_000L;
  /** frontline's default bucket bounds (seconds), the 4 h SLA target among them. */
  static final double[] BUCKETS = {
    1, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400,
    172800, 259200, 604800
  };

  static final AtomicLong CONSUMED = new AtomicLong();
  static final CountDownLatch DONE = new CountDownLatch(1);
  static long expected;
  /** The event clock of each partition (largest event ts seen), for the end-of-input flush. */
  static final Map<Integer, Long> CLOCKS = new ConcurrentHashMap<>();

  /** Event time from the JSON `ts` field (RFC 3339 or epoch ms): Kafka Streams' stream time is event time. */
  public static final class EventTime implements TimestampExtractor {
    @Override
    public long extract(ConsumerRecord<Object, Object> rec, long partitionTime) {
      String v = (String) rec.value();
      int i = v == null ? -1 : v.indexOf("\"ts\":");
      if (i < 0) {
        return partitionTime;
      }
      i += 5;
      while (v.charAt(i) == ' ') {
        i++;
      }
      try {
        if (v.charAt(i) == '"') {
          return parseTs(v.substring(i + 1, v.indexOf('"', i + 1)));
        }
        int j = i;
        while (j < v.length() && Character.isDigit(v.charAt(j))) {
          j++;
        }
        return Long.parseLong(v.substring(i, j));
      } catch (RuntimeException e) {
        return partitionTime;
      }
    }
  }

  static long parseTs(String s) {
    return OffsetDateTime.parse(s).toInstant().toEpochMilli();
  }

  /** Ticket state, one RocksDB entry per ticket: "created|queue|replied|resolved|slaOpen". */
  static final class Ticket {
    long created;
    String queue;
    boolean replied;
    boolean resolved;
    boolean slaOpen;

    static Ticket parse(String s) {
      String[] f = s.split("\\|", -1);
      Ticket t = new Ticket();
      t.created = Long.parseLong(f[0]);
      t.queue = f[1];
      t.replied = f[2].equals("1");
      t.resolved = f[3].equals("1");
      t.slaOpen = f[4].equals("1");
      return t;
    }

    String encode() {
      return created + "|" + queue + "|" + (replied ? 1 : 0) + "|" + (resolved ? 1 : 0) + "|"
          + (slaOpen ? 1 : 0);
    }
  }

  static String timerKey(long deadline, String ticket) {
    return String.format("%016d|%s", deadline, ticket);
  }

  static final class TicketProcessor implements Processor<String, String, Void, Void> {
    private final ObjectMapper json = new ObjectMapper();
    private KeyValueStore<String, String> tickets;
    private KeyValueStore<String, String> timers;
    private KeyValueStore<String, Long> aggregates;
    private WindowStore<String, Long> resolutions;
    private int partition = -1;
    private long clock = Long.MIN_VALUE;

    @Override
    public void init(ProcessorContext<Void, Void> ctx) {
      tickets = ctx.getStateStore("tickets");
      timers = ctx.getStateStore("sla-timers");
      aggregates = ctx.getStateStore("aggregates");
      resolutions = ctx.getStateStore("resolutions");
      partition = ctx.taskId().partition();
      clock = CLOCKS.getOrDefault(partition, Long.MIN_VALUE);
      // SLA timers fire as event time passes their deadline (stream-time punctuation).
      ctx.schedule(Duration.ofSeconds(10), PunctuationType.STREAM_TIME, now -> fireTimers(clock));
    }

    private void add(String key, long n) {
      Long v = aggregates.get(key);
      aggregates.put(key, (v == null ? 0 : v) + n);
    }

    /** Breaches every open first-response clock whose deadline the event clock passed. */
    private void fireTimers(long upTo) {
      if (upTo == Long.MIN_VALUE) {
        return;
      }
      try (KeyValueIterator<String, String> it = timers.range("", timerKey(upTo - 1, "\uffff"))) {
        while (it.hasNext()) {
          KeyValue<String, String> kv = it.next();
          String id = kv.value.substring(kv.value.indexOf('|') + 1);
          String s = tickets.get(id);
          if (s != null) {
            Ticket t = Ticket.parse(s);
            if (t.slaOpen) {
              t.slaOpen = false;
              tickets.put(id, t.encode());
              add("sla_breached|" + t.queue, 1);
            }
          }
          timers.delete(kv.key);
        }
      }
    }

    @Override
    public void process(Record<String, String> rec) {
      try {
        apply(rec);
      } catch (Exception e) {
        add("bad_input", 1);
      }
      if (CONSUMED.incrementAndGet() == expected) {
        DONE.countDown();
      }
    }

    private void apply(Record<String, String> rec) throws Exception {
      long ts = rec.timestamp();
      long before = clock;
      if (ts > clock) {
        clock = ts;
        CLOCKS.put(partition, clock);
      }
      JsonNode ev = json.readTree(rec.value());
      String type = ev.path("type").asText("");
      if (!type.startsWith("ticket.")) {
        return;
      }
      String id = ev.path("ticket_id").asText();
      String s = tickets.get(id);
      if (type.equals("ticket.created")) {
        if (s != null) {
          return; // a duplicate
        }
        Ticket t = new Ticket();
        t.created = ts;
        t.queue = queue(ev.path("queue"));
        t.slaOpen = true;
        tickets.put(id, t.encode());
        timers.put(timerKey(ts + SLA_MS, id), partition + "|" + id);
        add("created|" + t.queue, 1);
        return;
      }
      if (s == null) {
        return;
      }
      Ticket t = Ticket.parse(s);
      switch (type) {
        case "ticket.assigned" -> {
          JsonNode q = ev.get("queue");
          if (q == null || q.isNull()) {
            return;
          }
          t.queue = queue(q);
        }
        case "ticket.agent_replied" -> {
          if (!ev.path("public").asBoolean(true) || t.replied) {
            return;
          }
          t.replied = true;
          long frt = ts - t.created;
          if (frt >= 0) {
            int b = 0;
            while (b < BUCKETS.length && frt > BUCKETS[b] * 1000) {
              b++;
            }
            add("frt_bucket|" + t.queue + "|" + b, 1);
            add("frt_count|" + t.queue, 1);
            add("frt_sum_ms|" + t.queue, frt);
          }
          if (t.slaOpen) {
            long deadline = t.created + SLA_MS;
            boolean met = before <= deadline && ts <= deadline;
            add((met ? "sla_achieved|" : "sla_breached|") + t.queue, 1);
            t.slaOpen = false;
            timers.delete(timerKey(deadline, id));
          }
        }
        case "ticket.resolved", "ticket.closed" -> {
          if (t.slaOpen) {
            // A resolution or close stops the clock without a verdict, unless already breached.
            long deadline = t.created + SLA_MS;
            if (before > deadline) {
              add("sla_breached|" + t.queue, 1);
            }
            t.slaOpen = false;
            timers.delete(timerKey(deadline, id));
          }
          if (type.equals("ticket.resolved") && !t.resolved) {
            t.resolved = true;
            add("resolved|" + t.queue, 1);
            if (ts >= t.created && ts >= clock - LATENESS_MS) {
              long pane = Math.floorDiv(ts, PANE_MS) * PANE_MS;
              String key = "p" + partition;
              Long n = resolutions.fetch(key, pane);
              resolutions.put(key, (n == null ? 0 : n) + 1, pane);
            }
          }
        }
        default -> {
          return;
        }
      }
      tickets.put(id, t.encode());
    }

    private static String queue(JsonNode q) {
      return q == null || q.isNull() || q.isMissingNode() ? "unknown" : q.asText();
    }
  }

  public static void main(String[] args) throws Exception {
    String brokers = args[0];
    String topic = args[1];
    String appId = args[2];
    expected = Long.parseLong(args[3]);
    String stateDir = args.length > 4 ? args[4] : "/tmp/kafka-streams-peer";

    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
    p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
    p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
    p.put(StreamsConfig.DEFAULT_TIMESTAMP_EXTRACTOR_CLASS_CONFIG, EventTime.class);
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    // Tuning (see README): one stream thread per core, the default at-least-once
    // commit interval, a larger record cache in front of RocksDB.
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG,
        Integer.parseInt(System.getProperty("peer.threads", "2")));
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG,
        Long.parseLong(System.getProperty("peer.commit.ms", "30000")));
    p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG,
        Long.parseLong(System.getProperty("peer.cache.bytes", String.valueOf(64L << 20))));
    p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);

    StreamsBuilder b = new StreamsBuilder();
    b.addStateStore(Stores.keyValueStoreBuilder(
        Stores.persistentKeyValueStore("tickets"), Serdes.String(), Serdes.String()));
    b.addStateStore(Stores.keyValueStoreBuilder(
        Stores.persistentKeyValueStore("sla-timers"), Serdes.String(), Serdes.String()));
    b.addStateStore(Stores.keyValueStoreBuilder(
        Stores.persistentKeyValueStore("aggregates"), Serdes.String(), Serdes.Long()));
    b.addStateStore(Stores.windowStoreBuilder(
        Stores.persistentWindowStore("resolutions",
            Duration.ofMillis(WINDOW_MS + LATENESS_MS + PANE_MS), Duration.ofMillis(PANE_MS), false),
        Serdes.String(), Serdes.Long()));
    b.stream(topic, Consumed.with(Serdes.String(), Serdes.String()))
        .process(TicketProcessor::new, "tickets", "sla-timers", "aggregates", "resolutions");

    KafkaStreams streams = new KafkaStreams(b.build(), p);
    streams.start();
    DONE.await();
    System.out.println("consumed " + CONSUMED.get());
    System.out.flush();
    // Let the stream threads finish the last records before querying the stores.
    while (streams.state() != KafkaStreams.State.RUNNING) {
      Thread.sleep(50);
    }
    System.out.println(dump(streams));
    System.out.flush();
    streams.close(Duration.ofSeconds(30));
  }

  /** Final aggregates, summed over the partitions' tasks; open SLA clocks due by each partition's event clock fire here (end of input). */
  static String dump(KafkaStreams streams) {
    ReadOnlyKeyValueStore<String, Long> agg = streams.store(StoreQueryParameters.fromNameAndType(
        "aggregates", QueryableStoreTypes.keyValueStore()));
    ReadOnlyKeyValueStore<String, String> timers = streams.store(StoreQueryParameters.fromNameAndType(
        "sla-timers", QueryableStoreTypes.keyValueStore()));
    ReadOnlyKeyValueStore<String, String> tickets = streams.store(StoreQueryParameters.fromNameAndType(
        "tickets", QueryableStoreTypes.keyValueStore()));
    ReadOnlyWindowStore<String, Long> res = streams.store(StoreQueryParameters.fromNameAndType(
        "resolutions", QueryableStoreTypes.windowStore()));
    Map<String, Long> sums = new TreeMap<>();
    try (KeyValueIterator<String, Long> it = agg.all()) {
      while (it.hasNext()) {
        KeyValue<String, Long> kv = it.next();
        sums.merge(kv.key, kv.value, Long::sum);
      }
    }
    long clock = CLOCKS.values().stream().mapToLong(Long::longValue).max().orElse(0);
    try (KeyValueIterator<String, String> it = timers.all()) {
      while (it.hasNext()) {
        KeyValue<String, String> kv = it.next();
        long deadline = Long.parseLong(kv.key.substring(0, 16));
        int bar = kv.value.indexOf('|');
        long partClock = CLOCKS.get(Integer.parseInt(kv.value.substring(0, bar)));
        Ticket t = Ticket.parse(tickets.get(kv.value.substring(bar + 1)));
        if (t.slaOpen && deadline < partClock) {
          sums.merge("sla_breached|" + t.queue, 1L, Long::sum);
        }
      }
    }
    ObjectMapper om = new ObjectMapper();
    ObjectNode out = om.createObjectNode();
    for (Map.Entry<String, Long> e : sums.entrySet()) {
      out.put(e.getKey(), e.getValue());
    }
    out.put("clock", clock);
    for (Map.Entry<Integer, Long> e : new TreeMap<>(CLOCKS).entrySet()) {
      out.put("clock|p" + e.getKey(), e.getValue());
    }
    // The 1 h window ends at the event clock: panes [cur - 359, cur] of 10 s.
    long cur = Math.floorDiv(clock, PANE_MS) * PANE_MS;
    long from = cur - WINDOW_MS + PANE_MS;
    long n = 0;
    for (Integer part : CLOCKS.keySet()) {
      try (WindowStoreIterator<Long> it = res.fetch("p" + part, java.time.Instant.ofEpochMilli(from), java.time.Instant.ofEpochMilli(cur))) {
        while (it.hasNext()) {
          n += it.next().value;
        }
      }
    }
    out.put("resolutions_1h", n);
    return out.toString();
  }
}
