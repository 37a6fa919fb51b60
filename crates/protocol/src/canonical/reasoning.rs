//! Reasoning controls and the one mapping between efforts and thinking budgets.
//!
//! | effort   | budget tokens (Anthropic `budget_tokens`, Gemini `thinkingBudget`) | Gemini `thinkingLevel` |
//! |----------|---------------------------------------------------------------------|------------------------|
//! | none     | thinking disabled (`0`)                                             | — (budget 0)           |
//! | minimal  | 1024                                                                | `MINIMAL`              |
//! | low      | 2048                                                                | `LOW`                  |
//! | medium   | 8192                                                                | `MEDIUM`               |
//! | high     | 24576                                                               | `HIGH`                 |
//! | xhigh    | 32000 (also Anthropic `max`)                                        | `HIGH`                 |
//!
//! Budget → effort picks the smallest effort whose budget is ≥ the given budget.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effort {
    None,
    Minimal,
    Low,
    Medium,
    High,
    #[serde(alias = "max")]
    Xhigh,
}

impl Effort {
    pub fn budget(self) -> u32 {
        match self {
            Effort::None => 0,
            Effort::Minimal => 1024,
            Effort::Low => 2048,
            Effort::Medium => 8192,
            Effort::High => 24576,
            Effort::Xhigh => 32000,
        }
    }

    pub fn from_budget(budget: u32) -> Effort {
        [Effort::None, Effort::Minimal, Effort::Low, Effort::Medium, Effort::High]
            .into_iter()
            .find(|e| budget <= e.budget())
            .unwrap_or(Effort::Xhigh)
    }

    /// Parse the spellings clients use (`low`, `HIGH`, `max`, `xhigh`, …).
    pub fn parse(s: &str) -> Option<Effort> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "disabled" | "off" => Some(Effort::None),
            "minimal" => Some(Effort::Minimal),
            "low" => Some(Effort::Low),
            "medium" => Some(Effort::Medium),
            "high" => Some(Effort::High),
            "xhigh" | "max" | "ultra" => Some(Effort::Xhigh),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Effort::None => "none",
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
            Effort::Xhigh => "xhigh",
        }
    }
}

/// What the client asked of the model's reasoning. Decoders fill what their protocol says;
/// encoders use `effort()` / `budget()` to get the other spelling through the table above.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReasoningConfig {
    pub effort: Option<Effort>,
    pub budget_tokens: Option<u32>,
    /// Responses `reasoning.summary` (`auto|concise|detailed`).
    pub summary: Option<String>,
    /// Anthropic `thinking: {type: "adaptive"}`: the model decides how much to think.
    #[serde(default)]
    pub adaptive: bool,
    /// The client wants reasoning text back (Gemini `includeThoughts`, Responses summaries).
    pub include_thoughts: Option<bool>,
}

impl ReasoningConfig {
    pub fn effort(&self) -> Option<Effort> {
        self.effort.or_else(|| self.budget_tokens.map(Effort::from_budget))
    }

    pub fn budget(&self) -> Option<u32> {
        self.budget_tokens.or_else(|| self.effort.map(Effort::budget))
    }

    /// Thinking explicitly turned off.
    pub fn disabled(&self) -> bool {
        self.effort() == Some(Effort::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_round_trip_through_efforts() {
        for e in [Effort::None, Effort::Minimal, Effort::Low, Effort::Medium, Effort::High, Effort::Xhigh] {
            assert_eq!(Effort::from_budget(e.budget()), e);
        }
        assert_eq!(Effort::from_budget(31999), Effort::Xhigh);
        assert_eq!(Effort::from_budget(4095), Effort::Medium);
        assert_eq!(Effort::from_budget(100_000), Effort::Xhigh);
    }
}
