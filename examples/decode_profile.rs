//! Profiling aid: decodes and applies a simulated corpus in a loop.
//! `cargo run --release --example decode_profile -- [apply]`
fn main() {
    let apply = std::env::args().any(|a| a == "apply");
    let lines: Vec<String> = frontline::simulate::Simulator::new(Default::default())
        .take(500_000)
        .map(|e| e.json)
        .collect();
    let t = std::time::Instant::now();
    let mut n = 0usize;
    for _ in 0..4 {
        let mut engine = frontline::engine::Engine::new(&frontline::config::Config::default());
        for l in &lines {
            if let Ok(ev) = frontline::decode::decode(l.as_bytes(), 65536) {
                n += 1;
                if apply {
                    engine.apply(ev);
                }
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!("{n} events, {:.0} events/s", n as f64 / secs);
}
