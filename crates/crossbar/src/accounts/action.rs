//! What an admin can do to one pooled account, from the admin API or the Accounts page: the
//! one place each action's meaning lives.

use super::db::AccountStore;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Kept, but never chosen until enabled again.
    Disable,
    Enable,
    /// Deleted with its sealed tokens.
    Remove,
}

impl Action {
    /// The action named in a path segment (`disable`, `enable`, `remove`); anything else is
    /// none (a 404 on both surfaces, never a removal).
    pub fn parse(name: &str) -> Option<Action> {
        match name {
            "disable" => Some(Action::Disable),
            "enable" => Some(Action::Enable),
            "remove" => Some(Action::Remove),
            _ => None,
        }
    }

    /// Apply it to account `id`: false when there is no such account.
    pub async fn apply(self, accounts: &AccountStore, id: &str) -> anyhow::Result<bool> {
        match self {
            Action::Disable => accounts.set_disabled(id, true, Some("disabled by an admin")).await,
            Action::Enable => accounts.set_disabled(id, false, None).await,
            Action::Remove => accounts.remove(id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Action;

    #[test]
    fn only_the_three_names_are_actions() {
        assert_eq!(Action::parse("disable"), Some(Action::Disable));
        assert_eq!(Action::parse("enable"), Some(Action::Enable));
        assert_eq!(Action::parse("remove"), Some(Action::Remove));
        for other in ["", "Remove", "delete", "disable/", "enable "] {
            assert_eq!(Action::parse(other), None, "{other:?}");
        }
    }
}
