//! Money: an integer number of fen (分, 1/100 yuan). Arithmetic is checked: an overflow is an
//! error, never a wrapped amount.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fen(pub i64);

impl Fen {
    pub const ZERO: Fen = Fen(0);

    pub fn checked_add(self, other: Fen) -> AppResult<Fen> {
        self.0.checked_add(other.0).map(Fen).ok_or_else(overflow)
    }
    pub fn checked_sub(self, other: Fen) -> AppResult<Fen> {
        self.0.checked_sub(other.0).map(Fen).ok_or_else(overflow)
    }
    /// `self × quantity`, e.g. a line's subtotal.
    pub fn times(self, quantity: i64) -> AppResult<Fen> {
        self.0.checked_mul(quantity).map(Fen).ok_or_else(overflow)
    }
    pub fn sum<I: IntoIterator<Item = Fen>>(items: I) -> AppResult<Fen> {
        items.into_iter().try_fold(Fen::ZERO, Fen::checked_add)
    }
    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
    /// As yuan with two decimals, `-1234` → `-12.34`: for exports and mail, never for arithmetic.
    pub fn yuan(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }

    /// Splits `self` over parts in proportion to `weights`, to the fen: the remainder goes to the
    /// parts with the largest fractional shares (ties to the earlier part), so the parts always
    /// add up to `self` exactly.
    pub fn allocate(self, weights: &[i64]) -> Vec<Fen> {
        let total: i128 = weights.iter().map(|w| *w as i128).sum();
        if weights.is_empty() || total == 0 {
            let mut out = vec![Fen::ZERO; weights.len()];
            if let Some(first) = out.first_mut() {
                *first = self;
            }
            return out;
        }
        let amount = self.0 as i128;
        let mut shares: Vec<(i128, i128, usize)> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let exact = amount * (*w as i128);
                (exact.div_euclid(total), exact.rem_euclid(total), i)
            })
            .collect();
        let mut left = amount - shares.iter().map(|s| s.0).sum::<i128>();
        let mut order: Vec<usize> = (0..shares.len()).collect();
        order.sort_by(|a, b| shares[*b].1.cmp(&shares[*a].1).then(a.cmp(b)));
        for i in order {
            if left == 0 {
                break;
            }
            shares[i].0 += 1;
            left -= 1;
        }
        shares.sort_by_key(|s| s.2);
        shares.into_iter().map(|s| Fen(s.0 as i64)).collect()
    }
}

fn overflow() -> AppError {
    AppError::unprocessable("validation_failed", "the amount is too large")
}

impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "¥{}", self.yuan())
    }
}

impl From<Fen> for i64 {
    fn from(f: Fen) -> i64 {
        f.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(Fen(6800).times(120).unwrap(), Fen(816_000));
        assert!(Fen(i64::MAX).checked_add(Fen(1)).is_err());
        assert!(Fen(i64::MAX / 2).times(3).is_err());
        assert_eq!(Fen::sum([Fen(1), Fen(2), Fen(3)]).unwrap(), Fen(6));
    }

    #[test]
    fn yuan_has_two_decimals() {
        assert_eq!(Fen(123_456).yuan(), "1234.56");
        assert_eq!(Fen(5).yuan(), "0.05");
        assert_eq!(Fen(-1234).yuan(), "-12.34");
        assert_eq!(Fen(37_000_000_000).to_string(), "¥370000000.00");
    }

    #[test]
    fn allocation_adds_up_exactly() {
        assert_eq!(Fen(100).allocate(&[1, 1, 1]), vec![Fen(34), Fen(33), Fen(33)]);
        assert_eq!(Fen(-100).allocate(&[1, 1, 1]).iter().map(|f| f.0).sum::<i64>(), -100);
        assert_eq!(Fen(1000).allocate(&[6800, 3200]), vec![Fen(680), Fen(320)]);
        assert_eq!(Fen(7).allocate(&[]), vec![]);
        assert_eq!(Fen(7).allocate(&[0, 0]), vec![Fen(7), Fen(0)]);
        for amount in [-997i64, -1, 0, 1, 2, 99, 12345, 9_999_999] {
            for weights in [vec![1i64], vec![3, 7], vec![5, 5, 5, 1], vec![16800, 6800, 3900, 1]] {
                let parts = Fen(amount).allocate(&weights);
                assert_eq!(parts.iter().map(|f| f.0).sum::<i64>(), amount, "{amount} over {weights:?}");
                for (p, w) in parts.iter().zip(&weights) {
                    let exact = amount as f64 * *w as f64 / weights.iter().sum::<i64>() as f64;
                    assert!((p.0 as f64 - exact).abs() < 1.0, "{amount} over {weights:?}: {parts:?}");
                }
            }
        }
    }
}
