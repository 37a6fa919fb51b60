//! The page frame: head (our one stylesheet and script, by content-hashed path), navigation
//! (admin pages only for admins), sign-out, and the message pages (403, 404, …).

use super::{assets, Viewer};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

/// Navigation entries: (path, label, admin only).
const NAV: [(&str, &str, bool); 7] = [
    ("/ui/", "Overview", false),
    ("/ui/requests", "Requests", false),
    ("/ui/keys", "Keys", false),
    ("/ui/usage", "Usage & cost", true),
    ("/ui/routing", "Routing", true),
    ("/ui/accounts", "Accounts", true),
    ("/ui/models", "Models & prices", true),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · crossbar" }
            link rel="icon" href="data:,";
            link rel="stylesheet" href=(assets::css_path());
            script src=(assets::js_path()) defer {}
        }
    }
}

/// A full page for a signed-in viewer; `active` is the nav path.
pub fn page(v: &Viewer, active: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui/" { "crossbar" }
                    button #nav-toggle type="button" aria-expanded="false" aria-controls="nav" { "Menu" }
                    nav #nav aria-label="Dashboard" {
                        @for (path, label, admin) in NAV {
                            @if !admin || v.is_admin() {
                                @let label = if path == "/ui/keys" && !v.is_admin() { "My key" } else { label };
                                @if path == active { a href=(path) aria-current="page" { (label) } }
                                @else { a href=(path) { (label) } }
                            }
                        }
                    }
                    div.who {
                        @if v.is_admin() { span.role { "admin" } }
                        @else { span.role { "key " (v.key_id.as_deref().unwrap_or("")) } }
                        @if !v.open {
                            form method="post" action="/ui/signout" {
                                input type="hidden" name="csrf" value=(v.csrf);
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main { h1 { (title) } (body) }
            }
        }
    }
}

/// A page without navigation (sign-in, errors before a session exists).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body { main #main.bare { (body) } }
        }
    }
}

pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    let body = html! {
        section.message {
            h1 { (status.as_u16()) " · " (title) }
            p { (text) }
            p { a href="/ui/" { "Back to the dashboard" } }
        }
    };
    (status, bare(title, body)).into_response()
}

/// A hidden CSRF field for a form.
pub fn csrf(v: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(v.csrf); }
}

/// An empty state: what is missing and what to do.
pub fn empty(what: &str, todo: Markup) -> Markup {
    html! { div.empty { p { strong { (what) } } p { (todo) } } }
}
