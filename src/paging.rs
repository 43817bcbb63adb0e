//! Reading a chain of pages, whoever serves it: the one place where the rules that make every
//! listing end live. [`PageChain`] decides, page by page, whether another request is due and
//! refuses a server that would have a client loop; [`BatchPages`] applies it to a batch's jobs
//! (plan's `state::fetch`, `status -v`, `results`), `storage` to S3 listings.
//!
//! The rules, in the order they are applied to each page:
//!
//! 1. **Stop at the reported count.** A chain whose server said how many items it holds (project
//!    details' `total_jobs`) ends once that many are listed, whatever token the page carries: no
//!    request is spent to learn that a batch ended.
//! 2. **Stop on a missing token** (empty or absent).
//! 3. **Stop on an empty page** of API jobs: a page that lists nothing will not list more after
//!    it. (An S3 page may be empty and truncated; its chain goes on, within rule 5.)
//! 4. **A repeated token is an error.** A page whose next token was already followed would start
//!    the same pages again, forever.
//! 5. **So are more pages than the count implies**: at most twice `⌈count / page size⌉` plus one
//!    (short pages in the middle of a chain are read, slivers are not), and never more than
//!    [`MAX_PAGES`] for any chain, counted or not.
//!
//! Callers send each request themselves (through the limiter, with the retries they need) with
//! [`PageChain::token`], then hand the page to [`PageChain::accept`]; a failed request changes
//! nothing, so asking again asks for the same page.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

use crate::api::{self, BatchJobsPage, BatchSummary, JobSummary};
use crate::client::{Client, ClientError};
use crate::limiter::LimitedRequests;

/// The most pages any chain may take: 10 million jobs in a batch, or 100 million S3 keys under a
/// prefix. A server whose count implies more (a count near 2⁶⁴ that fresh tokens never end)
/// is stopped here, before the jobs it lists exhaust memory.
pub const MAX_PAGES: u64 = 100_000;

/// The longest excerpt of a token an error quotes.
const TOKEN_EXCERPT: usize = 40;

/// A server broke the paging rules: following it would never end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PagingError {
    #[error(
        "page {page} hands out the token `{token}`, which an earlier page handed out already: the listing would repeat forever"
    )]
    RepeatedToken { token: String, page: u64 },
    #[error("{}", too_many_pages(*pages, *reported, *page_size))]
    TooManyPages {
        pages: u64,
        reported: Option<u64>,
        page_size: u64,
    },
}

fn too_many_pages(pages: u64, reported: Option<u64>, page_size: u64) -> String {
    match reported {
        Some(reported) => format!(
            "{pages} pages listed {} the server reported, in pages of up to {page_size}, and the pages go on",
            crate::text::counted(reported, "item", "items"),
        ),
        None => format!("the listing goes on past {pages} pages"),
    }
}

/// Where a chain of pages stands: what to ask for next, and whether to ask at all.
#[derive(Debug, Clone)]
pub struct PageChain {
    /// The count the server reported; `None` when it reports none (S3).
    reported: Option<u64>,
    page_size: u64,
    max_pages: u64,
    pages: u64,
    listed: u64,
    /// The token of the next request; `None` for the first page.
    token: Option<String>,
    /// Digests of every token followed so far (a digest, so that a long chain of long tokens
    /// costs 16 bytes a page).
    followed: HashSet<[u8; 16]>,
    /// Whether a page without items ends the chain (API pages; an S3 page may be empty and
    /// truncated).
    empty_page_ends: bool,
    done: bool,
}

impl PageChain {
    /// A chain of `reported` items (as the server counted them) in pages of up to `page_size`.
    /// An empty chain is done before any request.
    pub fn counted(reported: u64, page_size: u64) -> PageChain {
        let page_size = page_size.max(1);
        let implied = reported.div_ceil(page_size);
        PageChain {
            reported: Some(reported),
            page_size,
            max_pages: implied.saturating_mul(2).saturating_add(1).min(MAX_PAGES),
            pages: 0,
            listed: 0,
            token: None,
            followed: HashSet::new(),
            empty_page_ends: true,
            done: reported == 0,
        }
    }

    /// A chain whose length the server does not say (an S3 listing), in pages of up to
    /// `page_size`: it ends on a missing token only, within [`MAX_PAGES`].
    pub fn uncounted(page_size: u64) -> PageChain {
        PageChain {
            reported: None,
            page_size: page_size.max(1),
            max_pages: MAX_PAGES,
            pages: 0,
            listed: 0,
            token: None,
            followed: HashSet::new(),
            empty_page_ends: false,
            done: false,
        }
    }

    /// The chain, also ended by an empty page (an API listing whose count is missing).
    pub fn ending_on_empty_pages(mut self) -> PageChain {
        self.empty_page_ends = true;
        self
    }

    /// The token to send with the next request; `None` for the first page.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Whether the last page was read: no request is due.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Pages accepted so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Items listed so far.
    pub fn listed(&self) -> u64 {
        self.listed
    }

    /// Takes in the page that answered [`PageChain::token`]: `items` entries and the server's
    /// next token (`None` or empty: none). After an error the chain is done.
    pub fn accept(&mut self, items: usize, next: Option<&str>) -> Result<(), PagingError> {
        self.pages = self.pages.saturating_add(1);
        self.listed = self
            .listed
            .saturating_add(u64::try_from(items).unwrap_or(u64::MAX));
        let next = next.filter(|token| !token.is_empty());
        let count_reached = self
            .reported
            .is_some_and(|reported| self.listed >= reported);
        let empty_page_ends = items == 0 && self.empty_page_ends;
        let Some(next) = next.filter(|_| !count_reached && !empty_page_ends) else {
            self.done = true;
            self.token = None;
            return Ok(());
        };
        self.done = true;
        if !self.followed.insert(digest(next)) {
            return Err(PagingError::RepeatedToken {
                token: excerpt(next),
                page: self.pages,
            });
        }
        if self.pages >= self.max_pages {
            return Err(PagingError::TooManyPages {
                pages: self.pages,
                reported: self.reported,
                page_size: self.page_size,
            });
        }
        self.done = false;
        self.token = Some(next.to_owned());
        Ok(())
    }
}

fn digest(token: &str) -> [u8; 16] {
    let full = Sha256::digest(token.as_bytes());
    let mut short = [0; 16];
    short.copy_from_slice(&full[..16]);
    short
}

fn excerpt(token: &str) -> String {
    if token.chars().count() <= TOKEN_EXCERPT {
        return token.to_owned();
    }
    let cut: String = token.chars().take(TOKEN_EXCERPT).collect();
    format!("{cut}…")
}

/// The pages of one batch's jobs, with the fewest requests: none for an empty batch, and no page
/// past the job count that project details reported (every page, when it reported none).
#[derive(Debug, Clone)]
pub struct BatchPages<'a> {
    project_id: &'a str,
    batch_id: String,
    chain: PageChain,
}

impl<'a> BatchPages<'a> {
    /// The pages of `summary`'s batch: up to its job count, or, when project details left the
    /// count out, until the pages end.
    pub fn new(project_id: &'a str, summary: &BatchSummary) -> Self {
        let page_size = api::JOBS_PAGE_SIZE as u64;
        let chain = if summary.total_jobs_reported {
            PageChain::counted(summary.total_jobs, page_size)
        } else {
            PageChain::uncounted(page_size).ending_on_empty_pages()
        };
        BatchPages {
            project_id,
            batch_id: summary.id.clone(),
            chain,
        }
    }

    pub fn project_id(&self) -> &'a str {
        self.project_id
    }

    pub fn batch_id(&self) -> &str {
        &self.batch_id
    }

    /// The token of the next page's request (`None`: the first page).
    pub fn token(&self) -> Option<&str> {
        self.chain.token()
    }

    /// Whether the last page was read (or the batch is empty): no request is left.
    pub fn is_done(&self) -> bool {
        self.chain.is_done()
    }

    /// Jobs listed so far.
    pub fn listed(&self) -> u64 {
        self.chain.listed()
    }

    /// Takes in the page that answered [`BatchPages::token`] and returns its jobs; a page that
    /// breaks the paging rules is the server's error ([`ClientError::Inconsistent`]).
    pub fn accept(&mut self, page: BatchJobsPage) -> Result<Vec<JobSummary>, ClientError> {
        self.chain
            .accept(page.jobs.len(), Some(&page.next_page_token))
            .map_err(|error| ClientError::Inconsistent {
                request: format!(
                    "GET {}",
                    api::paths::batch_jobs(self.project_id, &self.batch_id)
                ),
                problem: error.to_string(),
            })?;
        Ok(page.jobs)
    }

    /// The next page, `None` after the last: asked of `client` through `requests` (the
    /// operation's limiter, retried as its policy says). A failed request changes nothing:
    /// calling again asks for the same page.
    pub async fn next(
        &mut self,
        requests: &LimitedRequests<'_>,
        client: &Client,
    ) -> Result<Option<Vec<JobSummary>>, ClientError> {
        if self.is_done() {
            return Ok(None);
        }
        let (project_id, batch_id, token) = (self.project_id, &self.batch_id, self.token());
        let page = requests
            .send(|attempt| client.batch_jobs_page_attempt(project_id, batch_id, token, attempt))
            .await?;
        self.accept(page).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `pages` (items, next token) to a chain until it is done; the pages accepted, or the
    /// error.
    fn run(mut chain: PageChain, pages: &[(usize, &str)]) -> Result<u64, PagingError> {
        for (items, next) in pages {
            if chain.is_done() {
                break;
            }
            chain.accept(*items, Some(next))?;
        }
        assert!(chain.is_done(), "the pages given ran out first");
        Ok(chain.pages())
    }

    #[test]
    fn an_empty_counted_chain_asks_nothing() {
        assert!(PageChain::counted(0, 100).is_done());
    }

    #[test]
    fn a_chain_stops_at_the_reported_count_though_tokens_continue() {
        assert_eq!(
            run(PageChain::counted(200, 100), &[(100, "a"), (100, "b")]),
            Ok(2)
        );
        // The same token again, once the count is reached, ends the chain without an error.
        assert_eq!(run(PageChain::counted(100, 100), &[(100, "a")]), Ok(1));
        assert_eq!(
            run(PageChain::counted(150, 100), &[(100, "a"), (50, "a")]),
            Ok(2)
        );
    }

    #[test]
    fn a_chain_stops_on_a_missing_token_or_an_empty_page() {
        assert_eq!(
            run(PageChain::counted(500, 100), &[(100, "a"), (3, "")]),
            Ok(2)
        );
        assert_eq!(
            run(PageChain::counted(500, 100), &[(100, "a"), (0, "b")]),
            Ok(2)
        );
        let mut chain = PageChain::uncounted(1000);
        chain.accept(0, Some("a")).unwrap();
        assert!(!chain.is_done(), "an empty S3 page may be truncated");
        chain.accept(5, None).unwrap();
        assert!(chain.is_done());
        // API pages of a batch whose count details left out: read until they end.
        let unreported = || PageChain::uncounted(100).ending_on_empty_pages();
        assert_eq!(
            run(unreported(), &[(100, "a"), (100, "b"), (0, "c")]),
            Ok(3)
        );
        assert_eq!(run(unreported(), &[(100, "a"), (7, "")]), Ok(2));
    }

    #[test]
    fn short_pages_in_the_middle_of_a_chain_are_followed() {
        assert_eq!(
            run(
                PageChain::counted(200, 100),
                &[(50, "a"), (100, "b"), (50, "c")]
            ),
            Ok(3)
        );
    }

    #[test]
    fn a_repeated_token_is_an_error() {
        let error = run(
            PageChain::counted(1000, 100),
            &[(100, "a"), (100, "b"), (100, "a")],
        )
        .unwrap_err();
        assert_eq!(
            error,
            PagingError::RepeatedToken {
                token: "a".into(),
                page: 3
            }
        );
        let error = run(PageChain::uncounted(1000), &[(1000, "t"), (1000, "t")]).unwrap_err();
        assert!(matches!(error, PagingError::RepeatedToken { page: 2, .. }));
    }

    #[test]
    fn more_pages_than_the_count_implies_is_an_error() {
        // 250 items in pages of 100 imply 3 pages: up to 7 are read, slivers beyond are refused.
        let mut chain = PageChain::counted(250, 100);
        let mut outcome = Ok(());
        for page in 0..10 {
            outcome = chain.accept(1, Some(&format!("t{page}")));
            if outcome.is_err() {
                break;
            }
        }
        assert_eq!(
            outcome,
            Err(PagingError::TooManyPages {
                pages: 7,
                reported: Some(250),
                page_size: 100
            })
        );
        assert!(chain.is_done());
    }

    #[test]
    fn a_count_that_wraps_is_bounded_by_the_page_limit() {
        let chain = PageChain::counted(u64::MAX, 100);
        assert_eq!(chain.max_pages, MAX_PAGES);
        let mut chain = PageChain::counted(3, 100);
        chain.accept(usize::MAX, Some("a")).unwrap();
        assert!(chain.is_done());
        assert_eq!(chain.listed(), usize::MAX as u64);
    }

    #[test]
    fn too_many_pages_says_how_many_and_against_which_count() {
        let counted = PagingError::TooManyPages {
            pages: 7,
            reported: Some(250),
            page_size: 100,
        };
        assert_eq!(
            counted.to_string(),
            "7 pages listed 250 items the server reported, in pages of up to 100, and the pages go on"
        );
        let uncounted = PagingError::TooManyPages {
            pages: 100_000,
            reported: None,
            page_size: 1000,
        };
        assert_eq!(
            uncounted.to_string(),
            "the listing goes on past 100000 pages"
        );
    }

    #[test]
    fn long_tokens_are_quoted_in_part() {
        let token = "x".repeat(10_000);
        let mut chain = PageChain::counted(1000, 100);
        chain.accept(100, Some(&token)).unwrap();
        let error = chain.accept(100, Some(&token)).unwrap_err();
        assert!(error.to_string().len() < 300, "{error}");
    }
}
