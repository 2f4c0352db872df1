//! Stable numeric ids for things the configuration gives none (projects, users, endpoints).

/// A stable positive id (FNV-1a, 31 bits) for `key`: the same key gives the same id on every machine.
pub fn stable_id(key: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % 0x7fff_fffe) + 1
}

#[cfg(test)]
mod tests {
    use super::stable_id;

    #[test]
    fn stable_ids_are_stable_and_positive() {
        assert_eq!(stable_id("acme/demo"), stable_id("acme/demo"));
        assert_ne!(stable_id("acme/demo"), stable_id("acme/demo2"));
        assert!(stable_id("") > 0);
    }
}
