//! Opaque, prefixed, time-ordered identifiers (`org_01J…`): a ULID body, so sorting by id
//! sorts by creation time and an id can serve as a list cursor.

use std::sync::Mutex;

use rand::RngCore;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

const RANDOM_BITS: u32 = 80;
const RANDOM_MASK: u128 = (1 << RANDOM_BITS) - 1;

/// The last id's value: within one millisecond the next id is the last plus one, so ids made
/// by one process sort in the order they were made (monotonic ULID).
static LAST: Mutex<u128> = Mutex::new(0);

fn next_value() -> u128 {
    let millis = chrono::Utc::now().timestamp_millis().max(0) as u128;
    let mut random = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut random);
    let fresh = (millis << RANDOM_BITS) | (u128::from_be_bytes(random) & RANDOM_MASK);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let value = if fresh >> RANDOM_BITS <= *last >> RANDOM_BITS { *last + 1 } else { fresh };
    *last = value;
    value
}

pub fn new_id(prefix: &str) -> String {
    let value = next_value();
    let mut body = [0u8; 26];
    for (i, slot) in body.iter_mut().enumerate() {
        let shift = 5 * (25 - i);
        *slot = CROCKFORD[((value >> shift) & 31) as usize];
    }
    let mut id = String::with_capacity(prefix.len() + 27);
    id.push_str(prefix);
    id.push('_');
    id.push_str(std::str::from_utf8(&body).unwrap_or_default());
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_unique_and_time_ordered() {
        let a = new_id("org");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id("org");
        assert!(a.starts_with("org_") && a.len() == 30, "{a}");
        assert!(a < b, "{a} !< {b}");
        let many: Vec<String> = (0..10_000).map(|_| new_id("x")).collect();
        assert!(many.windows(2).all(|w| w[0] < w[1]), "ids made in one millisecond keep their order");
    }
}
