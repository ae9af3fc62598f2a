//! Registration, login, logout, session lifetimes, and what an owner does to their account:
//! change its password, delete it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ulid::Ulid;

use super::{FeedService, MediaCache, ServiceError};
use crate::auth::{LoginThrottle, PasswordHasher, Refused, random_token, session_key};
use crate::db::Repo;
use crate::domain::{BlobKey, Password, User, UserId, Username, now_unix};
use crate::session::{SessionData, SessionStore};

/// A new session: the token goes into the cookie, never into a store or a log.
pub struct IssuedSession {
    pub token: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RegisterRejected {
    Taken,
}

#[derive(Debug, PartialEq, Eq)]
pub enum LoginRejected {
    BadCredentials,
    /// This client address used its attempts for the minute.
    Throttled,
    /// This account used its attempts for the hour (from any addresses).
    AccountThrottled,
}

/// Why an owner's change to their account (which asks for their password) was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum AccountRejected {
    /// The password given is not the account's.
    WrongPassword,
    /// Too many wrong passwords from this address, or for this account: as a failed login.
    Throttled,
    AccountThrottled,
    /// The account is gone (deleted from another session meanwhile).
    NoAccount,
}

/// What deleting an account removes besides the rows and sessions: the blobs (from the store
/// and this instance's media cache), and the cached front page that may show them.
pub struct Deletion {
    pub media: MediaCache,
    pub feed: Arc<FeedService>,
}

/// The session an account change is made from: who, and which session is the caller's own.
pub struct Caller<'a> {
    pub user: UserId,
    pub username: &'a Username,
    pub session_key: &'a str,
}

pub struct Accounts {
    repo: Arc<dyn Repo>,
    sessions: Arc<dyn SessionStore>,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    idle: Duration,
    absolute: Duration,
    deletion: Deletion,
    clock: Arc<dyn crate::clock::Clock>,
}

impl Accounts {
    pub fn new(
        repo: Arc<dyn Repo>,
        sessions: Arc<dyn SessionStore>,
        hasher: PasswordHasher,
        throttle: LoginThrottle,
        (idle, absolute): (Duration, Duration),
        deletion: Deletion,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Self {
        Self { repo, sessions, hasher, throttle, idle, absolute, deletion, clock }
    }

    pub fn absolute_timeout(&self) -> Duration {
        self.absolute
    }

    /// Creates the account and logs it in, replacing `previous` (the caller's old session).
    pub async fn register(
        &self,
        username: Username,
        password: &Password,
        previous: Option<&str>,
    ) -> Result<Result<IssuedSession, RegisterRejected>, ServiceError> {
        if self.repo.user_by_name(&username).await?.is_some() {
            return Ok(Err(RegisterRejected::Taken));
        }
        let user = User {
            id: UserId::from_ulid(Ulid::new()),
            username,
            password_hash: self.hasher.hash(password).await?,
            created_at: now_unix(),
        };
        // The look-up above saves a hash on the common case; the unique index decides races.
        if self.repo.insert_user(&user).await?.is_err() {
            return Ok(Err(RegisterRejected::Taken));
        }
        Ok(Ok(self.start_session(&user, previous).await?))
    }

    /// Checks the password and starts a fresh session (a new id: no fixation), ending
    /// `previous`. Unknown user and wrong password are the same rejection, in the same time.
    pub async fn login(
        &self,
        username: Option<Username>,
        password: Option<Password>,
        client: IpAddr,
        previous: Option<&str>,
    ) -> Result<Result<IssuedSession, LoginRejected>, ServiceError> {
        match self.login_check(username.as_ref(), password, client).await? {
            Ok(user) => Ok(Ok(self.start_session(&user, previous).await?)),
            Err(rejected) => Ok(Err(rejected)),
        }
    }

    /// The user, if `password` is theirs, under the login throttle: a failure keeps its slots.
    async fn login_check(
        &self,
        username: Option<&Username>,
        password: Option<Password>,
        client: IpAddr,
    ) -> Result<Result<User, LoginRejected>, ServiceError> {
        // The slot is taken before the hash, so requests already waiting for one are counted.
        let reservation = match self.throttle.reserve(client, username).await? {
            Ok(reservation) => reservation,
            Err(Refused::Address) => return Ok(Err(LoginRejected::Throttled)),
            Err(Refused::Account) => return Ok(Err(LoginRejected::AccountThrottled)),
        };
        let (user, matched) = match self.check(username, password).await {
            Ok(checked) => checked,
            Err(e) => {
                // The check did not complete, so nothing was learnt: the slots go back (best
                // effort; the caller hears the original failure).
                if let Err(back) = self.throttle.give_back(reservation).await {
                    tracing::warn!(error = ?back, "giving back a login slot");
                }
                return Err(e);
            }
        };
        match user {
            Some(user) if matched => {
                self.throttle.give_back(reservation).await?;
                Ok(Ok(user))
            }
            // A failure keeps its slots: dropping the reservation is what counts it.
            _ => Ok(Err(LoginRejected::BadCredentials)),
        }
    }

    /// The user named, and whether `password` is theirs. A malformed password still costs a
    /// decoy verification, so timing reveals nothing.
    async fn check(
        &self,
        username: Option<&Username>,
        password: Option<Password>,
    ) -> Result<(Option<User>, bool), ServiceError> {
        let user = match username {
            Some(name) => self.repo.user_by_name(name).await?,
            None => None,
        };
        let well_formed = password.is_some();
        let candidate = password.unwrap_or_else(Password::decoy);
        let matched = self.hasher.verify(&candidate, user.as_ref().map(|u| u.password_hash.as_str())).await?;
        Ok((user, matched && well_formed))
    }

    /// Checks `current` as a login would (throttled per address and per account, a wrong one
    /// counted), then stores `new`, ends EVERY session of the user (on every instance) and
    /// starts a new one for the caller: the caller stays signed in under a new id, everyone
    /// else who knew the old password or held a session is out.
    pub async fn change_password(
        &self,
        caller: &Caller<'_>,
        current: Option<Password>,
        new: &Password,
        client: IpAddr,
    ) -> Result<Result<IssuedSession, AccountRejected>, ServiceError> {
        let user = match self.verify_owner(caller.username, current, client).await? {
            Ok(user) => user,
            Err(rejected) => return Ok(Err(rejected)),
        };
        if user.id != caller.user {
            return Ok(Err(AccountRejected::NoAccount));
        }
        let hash = self.hasher.hash(new).await?;
        if !self.repo.update_password_hash(user.id, &hash).await? {
            return Ok(Err(AccountRejected::NoAccount));
        }
        self.sessions.destroy_all_of(user.id).await?;
        Ok(Ok(self.start_session(&user, Some(caller.session_key)).await?))
    }

    /// Checks `password` as `change_password` does, then deletes the account: its row and
    /// every photo row in one step, every session, then the photos' blobs (best effort: a
    /// blob left behind is unreachable and logged) and the cached front page.
    pub async fn delete_account(
        &self,
        caller: &Caller<'_>,
        password: Option<Password>,
        client: IpAddr,
    ) -> Result<Result<(), AccountRejected>, ServiceError> {
        let user = match self.verify_owner(caller.username, password, client).await? {
            Ok(user) if user.id == caller.user => user,
            Ok(_) => return Ok(Err(AccountRejected::NoAccount)),
            Err(rejected) => return Ok(Err(rejected)),
        };
        let Some(photos) = self.repo.delete_user(user.id).await? else {
            return Ok(Err(AccountRejected::NoAccount));
        };
        // Rows first: from here no page lists the photos, and no session can act for the user
        // (a session that resumes finds no account behind it only after this line, so it is
        // ended too).
        self.sessions.destroy_all_of(user.id).await?;
        if !photos.is_empty() {
            self.deletion.feed.invalidate().await;
        }
        for photo in &photos {
            let small_thumb_key = BlobKey::small_thumbnail_of(&photo.thumb_key);
            for key in [&photo.key, &photo.thumb_key, &small_thumb_key] {
                if let Err(e) = self.deletion.media.delete(key).await {
                    tracing::error!(key = %key, error = %e, "could not remove a deleted account's blob");
                }
            }
        }
        Ok(Ok(()))
    }

    /// The account named, if `password` is its password, counted by the login throttle.
    async fn verify_owner(
        &self,
        username: &Username,
        password: Option<Password>,
        client: IpAddr,
    ) -> Result<Result<User, AccountRejected>, ServiceError> {
        match self.login_check(Some(username), password, client).await? {
            Ok(user) => Ok(Ok(user)),
            Err(LoginRejected::BadCredentials) => Ok(Err(AccountRejected::WrongPassword)),
            Err(LoginRejected::Throttled) => Ok(Err(AccountRejected::Throttled)),
            Err(LoginRejected::AccountThrottled) => Ok(Err(AccountRejected::AccountThrottled)),
        }
    }

    /// Grants (`admin = true`) or revokes the admin role of `name` (idempotent); `Ok(false)`
    /// when no user has that name.
    pub async fn set_admin(&self, name: &Username, admin: bool) -> Result<bool, ServiceError> {
        Self::set_admin_in(self.repo.as_ref(), name, admin).await
    }

    /// `set_admin` on a bare database, for `stratus admin`, which opens nothing else.
    pub async fn set_admin_in(repo: &dyn Repo, name: &Username, admin: bool) -> Result<bool, ServiceError> {
        Ok(repo.set_admin(name, admin).await?)
    }

    /// Whether this user holds the admin role now (read per request: a revoke acts at once).
    pub async fn is_admin(&self, id: UserId) -> Result<bool, ServiceError> {
        Ok(self.repo.is_admin(id).await?)
    }

    /// Ends the session everywhere (idempotent).
    pub async fn logout(&self, session_key: &str) -> Result<(), ServiceError> {
        Ok(self.sessions.destroy(session_key).await?)
    }

    /// The live session under `key`, its idle timer restarted; `Ok(None)` when it is unknown,
    /// idle too long, or past its absolute lifetime (then it is destroyed).
    pub async fn resume(&self, key: &str) -> Result<Option<SessionData>, ServiceError> {
        let Some(data) = self.sessions.get(key).await? else {
            return Ok(None);
        };
        if self.clock.unix_now() - data.created_at >= self.absolute.as_secs() as i64 {
            self.sessions.destroy(key).await?;
            return Ok(None);
        }
        if !self.sessions.touch(key, self.idle).await? {
            return Ok(None);
        }
        Ok(Some(data))
    }

    async fn start_session(&self, user: &User, previous: Option<&str>) -> Result<IssuedSession, ServiceError> {
        if let Some(previous) = previous {
            self.sessions.destroy(previous).await?;
        }
        let token = random_token();
        let data = SessionData { user_id: user.id, username: user.username.clone(), created_at: self.clock.unix_now() };
        self.sessions.create(&session_key(&token), &data, self.idle, self.absolute).await?;
        Ok(IssuedSession { token })
    }
}
