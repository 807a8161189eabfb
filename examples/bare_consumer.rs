//! The baseline for `make bench`: a bare rdkafka consumer loop that reads a
//! topic to a given count and does nothing with the messages. frontline's
//! live throughput is reported next to this one, measured by the same script.
//! It prints `COUNT SECONDS BYTES` on taking the last message, and the
//! script times it to that line, not to its exit: the consumer's close
//! (the final commit and the group's leave) takes about 100 ms more. It
//! then waits for its standard input to close before it closes the
//! consumer and exits, so that the script can read its threads' CPU
//! while they all still exist.
//!
//!     cargo run --release --example bare_consumer -- BROKERS TOPIC COUNT </dev/null

use std::io::Write;
use std::time::Instant;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::ClientConfig;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (brokers, topic, count): (&str, &str, u64) = match &args[..] {
        [_, b, t, n] => (b, t, n.parse().expect("COUNT")),
        _ => {
            eprintln!("usage: bare_consumer BROKERS TOPIC COUNT");
            std::process::exit(2);
        }
    };
    let group = format!("bare-{}", std::process::id());
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        // As frontline's group consumer reads (src/source/mod.rs): at
        // librdkafka's defaults a full fetch queue waits 1 s before the next
        // fetch, which this loop met in some runs and not others.
        .set("queued.min.messages", "20000")
        .set("fetch.queue.backoff.ms", "5")
        // As every frontline client starts (src/config/kafka.rs,
        // `CLIENT_DEFAULTS`).
        .set("reconnect.backoff.ms", "20")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let start = Instant::now();
    let mut n = 0u64;
    let mut bytes = 0usize;
    while n < count {
        let m = consumer.recv().await.expect("message");
        bytes += m.payload().map_or(0, <[u8]>::len);
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{n} {secs:.3} {bytes}");
    std::io::stdout().flush().expect("stdout");
    // Until the script has read the threads' CPU and closes our input.
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
}
