//! How a compliance officer closes a pupil's "this looks wrong": one of a fixed
//! list, each explained to the pupil in their language (no free text about a pupil
//! is written by anyone).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeOutcome {
    /// The entry is right; the pupil is told why such a thing happens.
    Explained,
    /// Something was wrong and has been put right.
    Corrected,
    /// Passed on to the organisation that asked, to answer the pupil.
    Referred,
}

impl DisputeOutcome {
    pub const ALL: [Self; 3] = [Self::Explained, Self::Corrected, Self::Referred];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Explained => "explained",
            Self::Corrected => "corrected",
            Self::Referred => "referred",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::DisputeOutcome;

    #[test]
    fn outcomes_read_back_and_nothing_else_reads() {
        for o in DisputeOutcome::ALL {
            assert_eq!(DisputeOutcome::parse(o.as_str()), Some(o));
        }
        for bad in ["", "Explained", "closed", "explained "] {
            assert_eq!(DisputeOutcome::parse(bad), None, "{bad}");
        }
    }
}
