//! The request rate: what the server's rate limit allows, from its 429s and its headers.
//!
//! Two mechanisms, both off until the server shows a limit:
//!
//! * **The allowance mirror** ([`Quota`]). When answers carry rate-limit headers (`Limit`,
//!   `Remaining`, `Reset`), the limiter keeps a copy of the server's allowance: the `Remaining`
//!   of the latest answer (by send time), refilled at `Limit` per window since it was sent, less
//!   every request sent since. A request starts only when that copy holds a whole request and a
//!   spare one. Refreshed by every answer, the copy is exact to within one round trip, so the
//!   client uses the whole limit (the initial burst included) without being refused.
//! * **A pacing cap** after 429s the mirror did not prevent (no headers, or an allowance shared
//!   with other clients). A burst of 429s for requests sent before the cap was last changed is one
//!   event, not many. Each event sets the cap just below what the server accepted between two
//!   refusals: requests sent between them, less the refused ones, over the time between them.
//!   With the server's allowance empty at both ends, that is exactly its refill rate (a lower
//!   bound if the allowance filled up in between). The first event has no such span: the cap
//!   starts at half the rate accepted over the last seconds and grows by a quarter every tenth of a
//!   second until the next refusal measures the rate. A measured cap probes upward by 1 %, at
//!   most once a second and once per [`PROBE_MIN_ACCEPTED`] accepted requests, so that refusals
//!   stay rare at any rate; it is lifted after a minute without refusals.
//!
//! `Retry-After` delays the refused request's own retry (the caller's backoff honours it). Every
//! start waits for it only when the server is blocking rather than pacing: nothing got through
//! between two refusals.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::client::RateLimitHeaders;

/// How long sends, refusals and acceptances are remembered for estimates.
const HORIZON: Duration = Duration::from_secs(10);
/// The shortest span between two refusals that measures a rate.
const MIN_SPAN: Duration = Duration::from_millis(500);
/// A measured cap sits this far below the measured rate.
const RATE_MARGIN: f64 = 0.97;
/// The first cap, as a share of the rate accepted over the last seconds (bursts included).
const FIRST_GUESS_FRACTION: f64 = 0.5;
/// A cap refused again before a span could measure it is cut by this factor (a guess) or this
/// one (a measured cap).
const GUESS_BACKOFF: f64 = 0.5;
const MEASURED_BACKOFF: f64 = 0.9;
/// An unmeasured cap grows by this factor every [`RAMP_INTERVAL`].
const RAMP_FACTOR: f64 = 1.25;
const RAMP_INTERVAL: Duration = Duration::from_millis(100);
/// An unmeasured cap grows no higher than this many times the requests accepted over the
/// [`HORIZON`] (more than ten times any rate the server accepted in it).
const RAMP_CEILING: f64 = 1.0;
/// A measured cap grows by this share…
const PROBE_STEP: f64 = 0.01;
/// …at most once per this time…
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// …and once per this many accepted requests.
pub(super) const PROBE_MIN_ACCEPTED: u64 = 50;
/// A cap with no refusal for this long is lifted.
const RELEASE_AFTER: Duration = Duration::from_secs(60);
/// The pause when a blocking server gives no `Retry-After`.
const DEFAULT_PAUSE: Duration = Duration::from_secs(1);
/// The mirror keeps this many requests of the allowance spare (answers can overtake each other).
const QUOTA_SPARE: f64 = 1.0;
/// The mirror is ignored after this long without headers, or this many answers without them.
const QUOTA_STALE: Duration = Duration::from_secs(5);
const QUOTA_STALE_ANSWERS: u32 = 3;

pub(super) struct Rate {
    /// Grant times of recent requests, oldest first.
    sent: VecDeque<Instant>,
    /// Grant times of recent requests answered 429, in order.
    rejected: VecDeque<Instant>,
    /// Completion times of recent requests not answered 429.
    accepted: VecDeque<Instant>,
    started: Instant,
    cap: Option<Cap>,
    quota: Option<Quota>,
    /// When the cap was last set by a refusal: later refusals of requests sent before it belong
    /// to the same event.
    last_event: Option<Instant>,
    paused_until: Option<Instant>,
}

struct Cap {
    per_second: f64,
    next_start: Instant,
    /// Measured between two refusals; otherwise a guess that ramps up.
    measured: bool,
    changed: Instant,
    accepted_since_change: u64,
}

/// The mirror of the server's allowance.
struct Quota {
    limit: f64,
    /// Seconds for an empty allowance to fill (at least 1 until measured shorter; see `learn`).
    window: f64,
    anchor_sent: Instant,
    anchor_remaining: f64,
    heard: Instant,
    answers_without: u32,
}

impl Quota {
    fn rate(&self) -> f64 {
        self.limit / self.window
    }

    fn fresh(&self, now: Instant) -> bool {
        self.answers_without < QUOTA_STALE_ANSWERS && now.duration_since(self.heard) < QUOTA_STALE
    }

    /// Learns the window from one answer: `Reset` is the time for the missing part to refill
    /// (rounded up to whole seconds by most servers, so every reading is at least the truth; the
    /// smallest is kept).
    fn learn_window(&mut self, headers: &RateLimitHeaders) {
        let missing = headers.limit.saturating_sub(headers.remaining);
        if let Some(reset) = headers.reset
            && missing > 0
            && !reset.is_zero()
        {
            let window = reset.as_secs_f64() * headers.limit as f64 / missing as f64;
            self.window = self.window.min(window);
        }
    }
}

/// Why a request may not start yet.
pub(super) enum Wait {
    /// Until this instant.
    Until(Instant),
    /// Until another request finishes.
    ForAnswer,
}

impl Rate {
    pub(super) fn new(now: Instant) -> Self {
        Rate {
            sent: VecDeque::new(),
            rejected: VecDeque::new(),
            accepted: VecDeque::new(),
            started: now,
            cap: None,
            quota: None,
            last_event: None,
            paused_until: None,
        }
    }

    /// The pacing cap in requests per second, if one is set.
    pub(super) fn cap(&self) -> Option<f64> {
        self.cap.as_ref().map(|cap| cap.per_second)
    }

    /// Whether a request may start now; `Ok(true)` if the allowance mirror allowed it.
    pub(super) fn admit(&self, now: Instant) -> Result<bool, Wait> {
        if let Some(until) = self.paused_until
            && until > now
        {
            return Err(Wait::Until(until));
        }
        if let Some(cap) = &self.cap
            && cap.next_start > now
        {
            return Err(Wait::Until(cap.next_start));
        }
        let Some(quota) = self.quota.as_ref().filter(|quota| quota.fresh(now)) else {
            return Ok(false);
        };
        let sent_after = self.sent.len() - self.sent.partition_point(|&at| at <= quota.anchor_sent);
        let refill = quota.rate() * now.duration_since(quota.anchor_sent).as_secs_f64();
        let available = (quota.anchor_remaining + refill).min(quota.limit) - sent_after as f64;
        if available >= 1.0 + QUOTA_SPARE {
            return Ok(true);
        }
        let stale_at = quota.heard + QUOTA_STALE;
        let needed = 1.0 + QUOTA_SPARE + sent_after as f64 - quota.anchor_remaining;
        if needed > quota.limit {
            // Only answers to the requests in flight can tell more.
            return Err(Wait::Until(stale_at));
        }
        let refilled_at = quota.anchor_sent + Duration::from_secs_f64(needed / quota.rate());
        Err(Wait::Until(refilled_at.min(stale_at).max(now)))
    }

    /// A request starts now.
    pub(super) fn on_start(&mut self, now: Instant) {
        self.sent.push_back(now);
        forget_before(&mut self.sent, now, HORIZON);
        if let Some(cap) = &mut self.cap {
            cap.next_start =
                cap.next_start.max(now) + Duration::from_secs_f64(1.0 / cap.per_second);
        }
    }

    /// An answer to a request sent at `sent_at` carried (or did not carry) rate-limit headers.
    pub(super) fn on_headers(
        &mut self,
        sent_at: Instant,
        headers: Option<&RateLimitHeaders>,
        answered: bool,
        now: Instant,
    ) {
        let Some(headers) = headers else {
            if answered && let Some(quota) = &mut self.quota {
                quota.answers_without += 1;
            }
            return;
        };
        let quota = self.quota.get_or_insert(Quota {
            limit: headers.limit as f64,
            window: 1.0,
            anchor_sent: sent_at,
            anchor_remaining: headers.remaining as f64,
            heard: now,
            answers_without: 0,
        });
        if quota.limit != headers.limit as f64 {
            quota.limit = headers.limit as f64;
            quota.window = 1.0;
        }
        quota.learn_window(headers);
        if sent_at >= quota.anchor_sent {
            quota.anchor_sent = sent_at;
            quota.anchor_remaining = headers.remaining as f64;
        }
        quota.heard = now;
        quota.answers_without = 0;
    }

    /// A request was answered, not with 429.
    pub(super) fn on_accepted(&mut self, now: Instant) {
        self.accepted.push_back(now);
        forget_before(&mut self.accepted, now, HORIZON);
        let calm = self
            .last_event
            .is_none_or(|at| now.duration_since(at) >= RELEASE_AFTER);
        let Some(cap) = &mut self.cap else {
            return;
        };
        if calm {
            self.cap = None;
            return;
        }
        cap.accepted_since_change += 1;
        let since = now.duration_since(cap.changed);
        if !cap.measured {
            let steps = since.as_secs_f64() / RAMP_INTERVAL.as_secs_f64();
            // Beyond a rate well above any accepted so far, a ramp says nothing more.
            let ceiling = self.accepted.len() as f64 * RAMP_CEILING;
            cap.per_second =
                (cap.per_second * RAMP_FACTOR.powf(steps)).min(ceiling.max(cap.per_second));
            cap.changed = now;
        } else if since >= PROBE_INTERVAL && cap.accepted_since_change >= PROBE_MIN_ACCEPTED {
            cap.per_second *= 1.0 + PROBE_STEP;
            cap.changed = now;
            cap.accepted_since_change = 0;
        }
    }

    /// A request sent at `sent_at` was answered 429. `mirrored`: the allowance mirror had let it
    /// start; `headers`: the answer carried rate-limit headers.
    pub(super) fn on_rejected(
        &mut self,
        sent_at: Instant,
        mirrored: bool,
        headers: bool,
        retry_after: Option<Duration>,
        now: Instant,
    ) {
        let position = self.rejected.partition_point(|&at| at <= sent_at);
        self.rejected.insert(position, sent_at);
        forget_before(&mut self.rejected, now, HORIZON);
        if headers && !mirrored {
            // Sent before the mirror knew the allowance; it knows now.
            return;
        }
        if self.last_event.is_some_and(|event| sent_at <= event) {
            // Sent before the last cut: part of the event that caused it.
            return;
        }
        self.on_event(sent_at, retry_after, now);
    }

    fn on_event(&mut self, sent_at: Instant, retry_after: Option<Duration>, now: Instant) {
        let previous = self.cap.as_ref().map(|cap| (cap.per_second, cap.measured));
        let (per_second, measured) = match (self.measured_rate(sent_at), previous) {
            (Some(Measured::Blocked), _) => {
                let pause = retry_after.unwrap_or(DEFAULT_PAUSE);
                self.paused_until = Some(now.checked_add(pause).unwrap_or(now + DEFAULT_PAUSE));
                let per_second = previous.map_or_else(
                    || self.first_guess(now) * FIRST_GUESS_FRACTION,
                    |(rate, _)| rate,
                );
                (
                    per_second * RATE_MARGIN,
                    previous.is_some_and(|(_, measured)| measured),
                )
            }
            (Some(Measured::Rate(rate)), previous) => {
                let rate = previous.map_or(rate, |(cap, _)| rate.min(cap));
                (rate * RATE_MARGIN, true)
            }
            // Refused again before a span could measure: the cap is too high.
            (None, Some((cap, true))) => (cap * MEASURED_BACKOFF, true),
            (None, Some((cap, false))) => (cap * GUESS_BACKOFF, false),
            // The mirror let this one through, yet it was refused: the allowance is shared.
            (None, None) => match &self.quota {
                Some(quota) => (quota.rate() * RATE_MARGIN, false),
                None => (self.first_guess(now) * FIRST_GUESS_FRACTION, false),
            },
        };
        let per_second = per_second.max(1.0 / HORIZON.as_secs_f64());
        self.cap = Some(Cap {
            per_second,
            next_start: now + Duration::from_secs_f64(1.0 / per_second),
            measured,
            changed: now,
            accepted_since_change: 0,
        });
        self.last_event = Some(now);
    }

    /// What the server accepted between the earliest remembered refusal (at least [`MIN_SPAN`]
    /// before) and the refusal of a request sent at `until`.
    fn measured_rate(&self, until: Instant) -> Option<Measured> {
        let from = *self
            .rejected
            .iter()
            .find(|&&at| at + MIN_SPAN <= until && at + HORIZON >= until)?;
        let between = |times: &VecDeque<Instant>| {
            times.partition_point(|&at| at < until) - times.partition_point(|&at| at <= from)
        };
        let accepted = between(&self.sent).saturating_sub(between(&self.rejected));
        if accepted == 0 {
            return Some(Measured::Blocked);
        }
        Some(Measured::Rate(
            accepted as f64 / until.duration_since(from).as_secs_f64(),
        ))
    }

    /// The rate accepted over the last seconds (at least one: an allowance is usually a second's
    /// worth, and a shorter span would count its burst as a rate).
    fn first_guess(&self, now: Instant) -> f64 {
        let window = now
            .duration_since(self.started)
            .clamp(Duration::from_secs(1), HORIZON);
        let accepted = self.accepted.len() - self.accepted.partition_point(|&at| at + window < now);
        accepted.max(1) as f64 / window.as_secs_f64()
    }
}

enum Measured {
    Rate(f64),
    /// Nothing got through between two refusals.
    Blocked,
}

fn forget_before(times: &mut VecDeque<Instant>, now: Instant, horizon: Duration) {
    while times
        .front()
        .is_some_and(|&at| now.duration_since(at) > horizon)
    {
        times.pop_front();
    }
}
