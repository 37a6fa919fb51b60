//! The end of a request: what happened (`outcome`, recorded once when the response body ends
//! or is dropped) and its account (`record`: the ticket that becomes one usage record and
//! settles the limit reservation).

pub mod outcome;
pub mod record;
