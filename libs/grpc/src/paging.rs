//! Paging by an opaque cursor. A list orders its items by a key that an item keeps while it
//! is listed (ending in the item's id, so keys are unique), and a page token carries the key
//! of the last item given. The next page starts after that key, whatever changed in between:
//! an item that went away shifts nothing, and none is given twice.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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
        Some(last) if more => URL_SAFE_NO_PAD.encode(format!("{VERSION}{}", key(last))),
        _ => String::new(),
    };
    (rest, next)
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
    fn a_page_is_fifty_by_default_and_at_most_five_hundred() {
        assert_eq!(Decoder::new().page(0, "").map(|page| page.size), Some(DEFAULT_PAGE));
        assert_eq!(Decoder::new().page(10_000, "").map(|page| page.size), Some(MAX_PAGE));
    }
}
