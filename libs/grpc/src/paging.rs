//! Paging by an opaque cursor. A list orders its items by a key that an item keeps while it
//! is listed (ending in the item's id, so keys are unique), and a page token carries the key
//! of the last item given. The next page starts after that key, whatever changed in between:
//! an item that went away shifts nothing, and none is given twice.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lru::LruCache;
use ulid::Ulid;

use crate::decode::{Decoder, page_size};

/// Items per page when the caller names no size.
pub const DEFAULT_PAGE: usize = 50;
/// The most items of one page.
pub const MAX_PAGE: usize = 500;

const VERSION: &str = "1:";

/// Which page a call asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub size: usize,
    /// The key of the last item of the previous page.
    pub after: Option<String>,
}

impl Decoder {
    /// The page a list call asks for: `page_size` (0 for the default, at most [`MAX_PAGE`])
    /// and the `page_token` a previous page gave.
    pub fn page(&mut self, requested: u32, token: &str) -> Option<PageRequest> {
        let size = page_size(requested, DEFAULT_PAGE, MAX_PAGE);
        if token.is_empty() {
            return Some(PageRequest { size, after: None });
        }
        let after = URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.strip_prefix(VERSION).map(str::to_owned));
        let after = self.field("page_token", after.ok_or("not a page token this list gave"))?;
        Some(PageRequest { size, after: Some(after) })
    }
}

/// The page a list call asks for, or `INVALID_ARGUMENT` naming `page_token`.
pub fn requested(size: u32, token: &str) -> Result<PageRequest, tonic::Status> {
    let mut decoder = Decoder::new();
    let requested = decoder.page(size, token);
    decoder.finish(|| requested)
}

/// The page of `items` that `request` asks for, in the order of `key`, and the token of the
/// next page (empty after the last).
pub fn page<T>(mut items: Vec<T>, key: impl Fn(&T) -> String, request: &PageRequest) -> (Vec<T>, String) {
    items.sort_by_cached_key(|item| key(item));
    let mut rest: Vec<T> = match &request.after {
        Some(after) => items.into_iter().filter(|item| key(item).as_str() > after.as_str()).collect(),
        None => items,
    };
    let more = rest.len() > request.size;
    rest.truncate(request.size);
    let next = match rest.last() {
        Some(last) if more => token(&key(last)),
        _ => String::new(),
    };
    (rest, next)
}

fn token(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{VERSION}{key}"))
}

/// How long the order of a list's first page is kept for its later pages.
pub const SNAPSHOT_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Pages of a list whose order changes while it is paged, such as what needs attention
/// first. The first page takes the order as it is then; later pages follow that order, with
/// each item as it is now: an item that left is skipped, an item that joined comes after
/// those of the first page, and none is given twice. Each caller keeps the orders of its
/// last [`ORDERS_PER_CALLER`] first pages of a list, in memory, for [`SNAPSHOT_LIFETIME`]; a
/// token this process no longer knows (it restarted, the caller began the list again many
/// times since, or the call reached another replica) is refused, and the caller lists again
/// from the first page.
pub struct Snapshots {
    orders: Mutex<LruCache<String, Vec<Snapshot>>>,
}

/// How many first pages of one list each caller may page through at once.
pub const ORDERS_PER_CALLER: usize = 4;

struct Snapshot {
    id: Ulid,
    ids: Vec<String>,
    /// Where each id stands in `ids`.
    places: HashMap<String, usize>,
    taken: Instant,
}

impl Snapshots {
    /// Keeps the orders of at most `capacity` callers' lists, dropping the least recently
    /// paged.
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self { orders: Mutex::new(LruCache::new(capacity)) }
    }

    /// The page of `items` that `request` asks for, for `owner` (the caller and the list it
    /// pages): in the order of `key` on the first page, and in that page's order after it;
    /// `id` names an item. Gives the token of the next page (empty after the last).
    pub fn page<T>(
        &self,
        owner: &str,
        mut items: Vec<T>,
        id: impl Fn(&T) -> String,
        key: impl Fn(&T) -> String,
        request: &PageRequest,
    ) -> Result<(Vec<T>, String), tonic::Status> {
        items.sort_by_cached_key(|item| key(item));
        let Some(after) = &request.after else {
            if items.len() <= request.size {
                return Ok((items, String::new()));
            }
            let ids: Vec<String> = items.iter().map(&id).collect();
            let places = ids.iter().enumerate().map(|(place, id)| (id.clone(), place)).collect();
            items.truncate(request.size);
            let last = items.last().map(&id).unwrap_or_default();
            let snapshot = Snapshot { id: Ulid::new(), ids, places, taken: Instant::now() };
            let token = token(&format!("{}.{last}", snapshot.id));
            let mut orders = self.lock();
            let kept = orders.get_or_insert_mut(owner.to_owned(), Vec::new);
            kept.retain(|kept| kept.taken.elapsed() < SNAPSHOT_LIFETIME);
            if kept.len() == ORDERS_PER_CALLER {
                kept.remove(0);
            }
            kept.push(snapshot);
            return Ok((items, token));
        };
        let expired = || {
            let mut decoder = Decoder::new();
            decoder.bad(
                "page_token",
                "has expired, or was not given for this list; list again from the first page",
            );
            decoder
                .finish(|| None::<()>)
                .err()
                .unwrap_or_else(|| tonic::Status::invalid_argument("page_token"))
        };
        let (snapshot_id, last) = after.split_once('.').ok_or_else(expired)?;
        let snapshot_id: Ulid = snapshot_id.parse().map_err(|_| expired())?;
        let order = {
            let mut orders = self.lock();
            let snapshot = orders
                .get_mut(owner)
                .and_then(|kept| kept.iter_mut().find(|snapshot| snapshot.id == snapshot_id))
                .filter(|snapshot| snapshot.taken.elapsed() < SNAPSHOT_LIFETIME)
                .ok_or_else(expired)?;
            let start = *snapshot.places.get(last).ok_or_else(expired)? + 1;
            // Items that joined since the first page go after the rest, in the order of `key`.
            for item in &items {
                let item_id = id(item);
                if !snapshot.places.contains_key(&item_id) {
                    snapshot.places.insert(item_id.clone(), snapshot.ids.len());
                    snapshot.ids.push(item_id);
                }
            }
            snapshot.ids[start..].to_vec()
        };
        let mut present: HashMap<String, T> = items.into_iter().map(|item| (id(&item), item)).collect();
        let mut rest = order.into_iter().filter_map(|known| present.remove(&known).map(|item| (known, item)));
        let page: Vec<(String, T)> = rest.by_ref().take(request.size).collect();
        let more = rest.next().is_some();
        let next = match page.last() {
            Some((last, _)) if more => token(&format!("{snapshot_id}.{last}")),
            _ => String::new(),
        };
        Ok((page.into_iter().map(|(_, item)| item).collect(), next))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Vec<Snapshot>>> {
        // Every change under the lock is whole: a panic elsewhere leaves no half-made order.
        self.orders.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A key part that orders numbers (milliseconds, say) as text.
pub fn ordered(number: i64) -> String {
    // Shifted into unsigned so that negative numbers order before positive ones.
    format!("{:020}", (i128::from(number) - i128::from(i64::MIN)) as u128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_each_other_and_an_item_that_goes_away_shifts_nothing() {
        let items: Vec<u32> = (1..=7).collect();
        let key = |n: &u32| format!("{n:03}");
        let first = page(items.clone(), key, &PageRequest { size: 3, after: None });
        assert_eq!(first.0, vec![1, 2, 3]);
        let mut decoder = Decoder::new();
        let next = decoder.page(3, &first.1).expect("the token reads");
        // Between the pages, 2 and 4 go away: 4 is simply not there, nothing is given twice.
        let changed: Vec<u32> = items.into_iter().filter(|n| *n != 2 && *n != 4).collect();
        let second = page(changed.clone(), key, &next);
        assert_eq!(second.0, vec![5, 6, 7]);
        assert!(second.1.is_empty(), "the last page gives no token");
        assert!(Decoder::new().page(3, "garbage!").is_none(), "a token not given by the list is refused");
        assert_eq!(ordered(-1) < ordered(0), ordered(0) < ordered(1_700_000_000_000));
    }

    #[test]
    fn pages_of_a_changing_order_follow_the_first_pages_order() {
        let snapshots = Snapshots::new(NonZeroUsize::new(4).expect("non-zero"));
        // Items (id, rank): ordered by rank, the most urgent first.
        let id = |item: &(u32, u32)| item.0.to_string();
        let key = |item: &(u32, u32)| format!("{:03}.{}", item.1, item.0);
        let items = vec![(1, 10), (2, 20), (3, 30), (4, 40), (5, 50)];
        let first = snapshots
            .page("anna", items, id, key, &PageRequest { size: 2, after: None })
            .expect("the first page");
        assert_eq!(first.0, [(1, 10), (2, 20)]);
        let next = Decoder::new().page(2, &first.1).expect("the token reads");
        // Between the pages 5 becomes the most urgent and 3 leaves; 6 joins.
        let changed = vec![(1, 10), (2, 20), (4, 40), (5, 1), (6, 5)];
        let second = snapshots.page("anna", changed.clone(), id, key, &next).expect("the second page");
        assert_eq!(second.0, [(4, 40), (5, 1)], "5 keeps its place, 3 is skipped");
        let last = Decoder::new().page(2, &second.1).expect("the token reads");
        let third = snapshots.page("anna", changed.clone(), id, key, &last).expect("the third page");
        assert_eq!(third.0, [(6, 5)], "a family that joined comes last, once");
        assert!(third.1.is_empty());

        assert!(
            snapshots.page("bertta", changed.clone(), id, key, &next).is_err(),
            "only its caller pages it"
        );
        let forged = PageRequest { size: 2, after: Some(format!("{}.1", Ulid::new())) };
        assert_eq!(
            snapshots.page("anna", changed, id, key, &forged).map(|_| ()).map_err(|status| status.code()),
            Err(tonic::Code::InvalidArgument)
        );
        let short = snapshots.page("anna", vec![(1, 1)], id, key, &PageRequest { size: 2, after: None });
        assert_eq!(short.map(|page| page.1).ok(), Some(String::new()), "one page needs no order kept");
    }

    #[test]
    fn a_page_is_fifty_by_default_and_at_most_five_hundred() {
        assert_eq!(Decoder::new().page(0, "").map(|page| page.size), Some(DEFAULT_PAGE));
        assert_eq!(Decoder::new().page(10_000, "").map(|page| page.size), Some(MAX_PAGE));
    }
}
