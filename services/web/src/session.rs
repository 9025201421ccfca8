//! Sessions kept on the server: the browser holds only a random id, in a cookie that is
//! HttpOnly, Secure and SameSite=Strict. The token the services verify stays here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use base64::Engine as _;
use rand_core::RngCore as _;
use tokio::sync::watch;

use crate::i18n::Lang;

/// The session cookie's name; `__Host-` binds it to this host, over a secure connection.
pub const COOKIE_NAME: &str = "__Host-luukku";
/// The language cookie's name (not a secret).
pub const LANG_COOKIE: &str = "luukku_lang";
/// The longest a session lives, whatever its token says.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// A session unused this long ends: child-protection data on a shared device.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// The most sessions one process keeps; a sign-in beyond them is refused.
pub const MOST: usize = 10_000;
/// The most sessions of one person; a new one ends their least recently used.
pub const MOST_PER_PERSON: usize = 8;
/// The most live views (event streams) one session holds open at once.
pub const MOST_LIVE: usize = 4;
/// The most refused live views one session remembers (a few bytes each).
pub const MOST_REFUSED_LIVE: usize = 256;

/// One signed-in person.
#[derive(Clone)]
pub struct Session {
    /// The bearer token the services verify.
    pub token: String,
    /// Who they are, as shown in the header.
    pub person: String,
    pub role: String,
    /// Their sector's code, if any.
    pub sector: Option<String>,
    /// The contact person they are, if any.
    pub contact_person_id: Option<String>,
    /// Every form of the session carries it.
    pub csrf: String,
    pub lang: Lang,
    pub expires: Instant,
    /// When the session was last used.
    pub seen: Instant,
    /// Dropped when the session ends: what was opened with it (a live view) ends too.
    gone: Arc<watch::Sender<()>>,
    /// How many live views it holds open.
    live: Arc<std::sync::atomic::AtomicUsize>,
    /// The families whose live view the services refused this session: a page asking again
    /// is refused here, so that its retries leave no denial after denial in the family's
    /// access log. Showing the family's page again asks the services anew.
    refused_live: Arc<Mutex<std::collections::HashSet<String>>>,
}

/// One live view held open; dropping it frees its place.
pub struct LiveView(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for LiveView {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Session {
    /// A session that starts now, for a person the services verify by `token`.
    pub fn new(token: String, person: String, role: String, sector: Option<String>, lang: Lang) -> Self {
        let now = Instant::now();
        Self {
            token,
            person,
            role,
            sector,
            contact_person_id: None,
            csrf: random_token(),
            lang,
            expires: now + LIFETIME,
            seen: now,
            gone: Arc::new(watch::channel(()).0),
            live: Arc::default(),
            refused_live: Arc::default(),
        }
    }

    /// Whether the services refused this session a live view of `family`.
    pub fn live_refused(&self, family: &str) -> bool {
        self.refused_live.lock().unwrap_or_else(PoisonError::into_inner).contains(family)
    }

    /// Notes that the services refused (`true`) or showed (`false`) this session `family`. At
    /// most [`MOST_REFUSED_LIVE`] are kept; past them, retries ask the services again.
    pub fn set_live_refused(&self, family: &str, refused: bool) {
        let mut families = self.refused_live.lock().unwrap_or_else(PoisonError::into_inner);
        if refused {
            if families.len() < MOST_REFUSED_LIVE {
                families.insert(family.to_owned());
            }
        } else {
            families.remove(family);
        }
    }

    /// A place for one more live view, unless the session holds [`MOST_LIVE`] already.
    pub fn live_view(&self) -> Option<LiveView> {
        use std::sync::atomic::Ordering;
        let taken = self.live.fetch_add(1, Ordering::SeqCst);
        let view = LiveView(Arc::clone(&self.live));
        (taken < MOST_LIVE).then_some(view)
    }

    /// Resolves when the session has ended: signed out, swept as unused, or past its lifetime.
    pub fn ended(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut gone = self.gone.subscribe();
        let expires = tokio::time::Instant::from_std(self.expires);
        async move {
            tokio::select! {
                _ = gone.changed() => {}
                () = tokio::time::sleep_until(expires) => {}
            }
        }
    }
}

impl Session {
    fn live(&self, now: Instant) -> bool {
        self.expires > now && now.duration_since(self.seen) < IDLE
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("role", &self.role).finish_non_exhaustive()
    }
}

/// The sessions of this process.
#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

/// 32 random bytes, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The value of cookie `name` in `headers`.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.by_id.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a session; answers its id, or `None` when the process keeps as many as it may.
    pub fn start(&self, session: Session) -> Option<String> {
        let id = random_token();
        let mut sessions = self.lock();
        let now = Instant::now();
        sessions.retain(|_, session| session.live(now));
        if sessions.len() >= MOST {
            return None;
        }
        // One person signing in again and again keeps their newest sessions only.
        let mut theirs: Vec<(Instant, String)> = sessions
            .iter()
            .filter(|(_, held)| held.person == session.person)
            .map(|(id, held)| (held.seen, id.clone()))
            .collect();
        if theirs.len() >= MOST_PER_PERSON {
            theirs.sort();
            for (_, oldest) in theirs.iter().take(theirs.len() + 1 - MOST_PER_PERSON) {
                sessions.remove(oldest);
            }
        }
        sessions.insert(id.clone(), session);
        Some(id)
    }

    /// The session the request's cookie names, while it lives; using it keeps it alive.
    pub fn get(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        self.find(headers, true)
    }

    /// The session the request's cookie names, while it lives, without counting as use: what
    /// a page fetches by itself (its live view) does not keep a session from going idle.
    pub fn peek(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        self.find(headers, false)
    }

    fn find(&self, headers: &HeaderMap, used: bool) -> Option<(String, Session)> {
        let id = cookie(headers, COOKIE_NAME)?;
        let mut sessions = self.lock();
        let now = Instant::now();
        let session = sessions.get_mut(id).filter(|session| session.live(now))?;
        if used {
            session.seen = now;
        }
        Some((id.to_owned(), session.clone()))
    }

    pub fn set_lang(&self, id: &str, lang: Lang) {
        if let Some(session) = self.lock().get_mut(id) {
            session.lang = lang;
        }
    }

    pub fn end(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Forgets the sessions that have ended.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.lock().retain(|_, session| session.live(now));
    }
}

/// The `Set-Cookie` value that gives the browser session `id`.
pub fn session_cookie(id: &str) -> String {
    format!("{COOKIE_NAME}={id}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}", LIFETIME.as_secs())
}

/// The `Set-Cookie` value that ends the browser's session.
pub fn ended_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0")
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sessions_refused_live_views_are_shared_by_its_copies_cleared_when_shown_and_bounded() {
        let session =
            Session::new("token".into(), "dev.contact".into(), "contact_person".into(), None, Lang::Fi);
        // The sessions' map hands out copies: a refusal noted on one is seen by the next.
        let copy = session.clone();
        copy.set_live_refused("family-a", true);
        assert!(session.live_refused("family-a"));
        assert!(!session.live_refused("family-b"));
        session.set_live_refused("family-a", false);
        assert!(!copy.live_refused("family-a"));
        for n in 0..MOST_REFUSED_LIVE + 10 {
            session.set_live_refused(&format!("family-{n}"), true);
        }
        assert!(session.live_refused("family-0"));
        assert!(!session.live_refused(&format!("family-{}", MOST_REFUSED_LIVE + 5)), "past the bound");
    }
}
