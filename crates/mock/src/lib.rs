//! crossbar-mock: a fake provider speaking OpenAI Chat, OpenAI Responses, Anthropic Messages
//! and Gemini, streaming and not.

/// Placeholder until the mock lands (replaced by the real implementation on merge).
pub fn router() -> axum::Router {
    axum::Router::new()
}

pub async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router()).await
}
