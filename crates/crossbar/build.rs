//! `sqlx::migrate!` embeds `migrations/` at compile time, but cargo cannot see that: without
//! this, an incremental build after adding a migration keeps the old set (sqlx's advice).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
