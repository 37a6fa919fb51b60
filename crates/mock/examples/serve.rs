//! Run the mock on its own: `cargo run -p crossbar-mock --example serve -- 127.0.0.1:9999`
//! (the address defaults to 127.0.0.1:9999).

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9999".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("crossbar-mock listening on http://{}", listener.local_addr()?);
    crossbar_mock::serve(listener).await
}
