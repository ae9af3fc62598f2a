//! Login throttling: a slot is reserved BEFORE the password is hashed and given back only when
//! the login succeeds, so a burst of simultaneous guesses evaluates at most the limit, however
//! many requests are already waiting for a hash.
//!
//! Two limits, each its own counter: per client address (`login_failures_per_minute` in a
//! minute) and per account across all addresses (`PER_ACCOUNT_LIMIT` in an hour), so spreading
//! guesses over many addresses still meets a ceiling, answered for that account only. The
//! counters live in the session backend (`Counters`), shared by every instance in the fleet.
//! In process they are bounded whatever addresses a flood rotates through: at most
//! `MemoryCounters::DEFAULT_MAX_KEYS` (65 536) keys, about 10 MiB; past that, new keys are
//! refused (429) until windows expire, and the counts already held are kept.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::Username;
use crate::session::{Counters, SessionError};

/// Failed logins one account may take, from all addresses together, per `ACCOUNT_WINDOW`.
pub const PER_ACCOUNT_LIMIT: u32 = 50;
pub const ACCOUNT_WINDOW: Duration = Duration::from_secs(3600);
pub const ADDRESS_WINDOW: Duration = Duration::from_secs(60);

/// Why a login attempt may not check a password now.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// This client address used its attempts for the minute.
    Address,
    /// This account used its attempts for the hour, from whatever addresses.
    Account,
}

pub struct LoginThrottle {
    counters: Arc<dyn Counters>,
    per_address: u32,
    per_account: u32,
}

/// The slots one attempt holds: give them back with `LoginThrottle::give_back` (a success, or
/// a check that never completed), or drop them (a failure keeps them counted).
#[must_use]
pub struct Reservation {
    keys: Vec<String>,
}

impl LoginThrottle {
    pub fn new(counters: Arc<dyn Counters>, per_address_per_minute: u32) -> Self {
        Self { counters, per_address: per_address_per_minute, per_account: PER_ACCOUNT_LIMIT }
    }

    /// Reserves one attempt for `client` and, when a name was given, for that account. Either
    /// limit reached: nothing stays reserved and the answer says which.
    pub async fn reserve(
        &self,
        client: IpAddr,
        account: Option<&Username>,
    ) -> Result<Result<Reservation, Refused>, SessionError> {
        let address_key = format!("login:ip:{}", address_bucket(client));
        if !self.counters.acquire(&address_key, self.per_address, ADDRESS_WINDOW).await? {
            return Ok(Err(Refused::Address));
        }
        let mut keys = vec![address_key];
        if let Some(account) = account {
            // Usernames are unique ignoring case, so the account's counter is too.
            let account_key = format!("login:user:{}", account.as_str().to_ascii_lowercase());
            if !self.counters.acquire(&account_key, self.per_account, ACCOUNT_WINDOW).await? {
                self.counters.release(&keys[0]).await?;
                return Ok(Err(Refused::Account));
            }
            keys.push(account_key);
        }
        Ok(Ok(Reservation { keys }))
    }

    /// Returns the attempt's slots: successful logins never count.
    pub async fn give_back(&self, reservation: Reservation) -> Result<(), SessionError> {
        for key in &reservation.keys {
            self.counters.release(key).await?;
        }
        Ok(())
    }
}

/// The throttled unit of an address: an IPv4 address, or an IPv6 /64 (one subscriber's
/// network: a single host may use any of its 2^64 addresses, so counting them one by one
/// would not limit it).
fn address_bucket(client: IpAddr) -> String {
    match client {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_host_is_counted_by_its_64_and_a_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("v6");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("v6");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("v6");
        assert_eq!(address_bucket(a), address_bucket(b));
        assert_ne!(address_bucket(a), address_bucket(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("mapped");
        assert_eq!(address_bucket(mapped), "192.0.2.7");
    }
}
