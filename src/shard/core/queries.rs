//! The account queries (issue 12) on the shard: OrderQuery (an order by
//! its client order id), OpenOrdersRequest, PositionsRequest and
//! DoneOrdersRequest (a page at a time). Each request is answered by exactly one engine, the owner of
//! its symbol, or for symbol 0 the trading shard its cursor names, so a
//! query never waits for several shards and never holds state between
//! pages. The answer is built into a fixed array on the stack (at most
//! [`QUERY_PAGE`] messages and the `QueryDone`), then pushed to the
//! session's outbox, or sent over the ring to the session's shard.
//!
//! A page is counted as [`QUERY_PAGE_WEIGHT`] commands in flight (a page of
//! done orders, whose messages are longer, as [`DONE_PAGE_WEIGHT`]), so the
//! reader of a session that pipelines queries pauses before their answers
//! could overflow its outbox.

use super::ShardCore;
use crate::engine::{AccountId, Engine, PageCursor, RejectReason};
use crate::protocol::*;
use crate::shard::mesh::SessionRef;

/// A query as it crosses the mesh to the owner engine.
#[derive(Clone, Copy, Debug)]
pub enum AccountQuery {
    ByClientId(OrderQueryMsg),
    OpenOrders(OpenOrdersRequestMsg),
    Positions(PositionsRequestMsg),
    DoneOrders(DoneOrdersRequestMsg),
}

/// One message of an answer.
#[derive(Clone, Copy, Debug)]
pub enum QueryAnswer {
    Status(OrderStatusMsg),
    Position(PositionMsg),
    DoneOrder(DoneOrderMsg),
    Done(QueryDoneMsg),
}

/// The messages of one answer, in order: at most a page and its end.
pub struct Answers {
    items: [QueryAnswer; QUERY_PAGE + 1],
    len: usize,
}

impl Answers {
    fn push(&mut self, answer: QueryAnswer) {
        assert!(self.len < self.items.len(), "an answer over one page");
        self.items[self.len] = answer;
        self.len += 1;
    }

    pub fn as_slice(&self) -> &[QueryAnswer] {
        debug_assert!(self.len <= self.items.len());
        &self.items[..self.len]
    }
}

impl AccountQuery {
    /// Commands-in-flight units its answer is counted as.
    pub fn weight(&self) -> u32 {
        let weight = match self {
            AccountQuery::ByClientId(_) => 1,
            AccountQuery::OpenOrders(_) | AccountQuery::Positions(_) => QUERY_PAGE_WEIGHT,
            AccountQuery::DoneOrders(_) => DONE_PAGE_WEIGHT,
        };
        debug_assert!(weight >= 1);
        weight
    }

    /// (request id, symbol, cursor): where the query goes and what it asks.
    fn fields(&self) -> (u64, u32, QueryCursor) {
        let fields = match self {
            AccountQuery::ByClientId(m) => {
                (m.client_order_id.get(), m.symbol.get(), QueryCursor::START)
            }
            AccountQuery::OpenOrders(m) => (m.client_order_id.get(), m.symbol.get(), m.cursor()),
            AccountQuery::Positions(m) => (m.client_order_id.get(), m.symbol.get(), m.cursor()),
            AccountQuery::DoneOrders(m) => (m.client_order_id.get(), m.symbol.get(), m.cursor()),
        };
        // Only open and done orders resume inside a symbol.
        debug_assert!(
            matches!(
                self,
                AccountQuery::OpenOrders(_) | AccountQuery::DoneOrders(_)
            ) || fields.2.after == 0
        );
        fields
    }

    /// The answer when no engine can take the query: an unknown symbol, or
    /// a refusal by the session (rate limit) or the cursor (past the last
    /// trading shard: an empty, final page).
    fn unanswered(&self, reject: Option<RejectReason>) -> QueryAnswer {
        let answer = match (self, reject) {
            (AccountQuery::ByClientId(m), reject) => {
                QueryAnswer::Status(OrderStatusMsg::unknown_by_client_id(m, reject))
            }
            (_, Some(reason)) => QueryAnswer::Done(QueryDoneMsg::refused(self.fields().0, reason)),
            (_, None) => QueryAnswer::Done(QueryDoneMsg::new(self.fields().0, 0, None)),
        };
        // Nothing found, nothing more to ask for.
        debug_assert!(match answer {
            QueryAnswer::Status(s) => s.state == OrderState::Unknown as u8,
            QueryAnswer::Done(d) => d.count.get() == 0 && d.more == 0,
            QueryAnswer::Position(_) | QueryAnswer::DoneOrder(_) => false,
        });
        answer
    }
}

/// The answer of the engine that owns the query's symbol (or, for symbol
/// 0, of trading shard number `cursor.shard_index()`, which `trading`
/// lists), to `account`'s query.
pub fn answer(
    engine: &Engine,
    trading: &[u16],
    account: AccountId,
    query: &AccountQuery,
) -> Answers {
    let mut out = Answers {
        items: [QueryAnswer::Done(QueryDoneMsg::new(0, 0, None)); QUERY_PAGE + 1],
        len: 0,
    };
    let (request_id, symbol, cursor) = query.fields();
    // The router sent a symbol-0 query to the trading shard its cursor names.
    debug_assert!(symbol != 0 || cursor.shard_index() < trading.len());
    let at = PageCursor {
        book: cursor.book(),
        after_order_id: cursor.after,
    };
    let filter = (symbol != 0).then_some(symbol);
    let mut count = 0u32;
    let next = match query {
        AccountQuery::ByClientId(m) => {
            let found = engine.order_by_client_id(account, symbol, m.order_client_order_id.get());
            out.push(match found {
                Some(view) => QueryAnswer::Status(OrderStatusMsg::found(
                    request_id,
                    &OrderSnapshot::resting(&view),
                )),
                None => query.unanswered(None),
            });
            return out;
        }
        AccountQuery::OpenOrders(_) => {
            engine.open_orders_page(account, filter, at, QUERY_PAGE, |view| {
                count += 1;
                out.push(QueryAnswer::Status(OrderStatusMsg::found(
                    request_id,
                    &OrderSnapshot::resting(view),
                )));
            })
        }
        AccountQuery::Positions(_) => {
            engine.positions_page(account, filter, at, QUERY_PAGE, |symbol, view| {
                count += 1;
                out.push(QueryAnswer::Position(PositionMsg::new(
                    request_id, symbol, view,
                )));
            })
        }
        AccountQuery::DoneOrders(_) => {
            engine.done_orders_page(account, filter, at, QUERY_PAGE, |symbol, done| {
                count += 1;
                out.push(QueryAnswer::DoneOrder(DoneOrderMsg::new(
                    request_id, symbol, done,
                )));
            })
        }
    };
    let index = cursor.shard_index();
    let next = match next {
        Some(page) => Some(QueryCursor::at(index, page.book, page.after_order_id)),
        // This engine is done; with symbol 0 the next trading shard follows.
        None if symbol == 0 && index + 1 < trading.len() => Some(QueryCursor::at(index + 1, 0, 0)),
        None => None,
    };
    out.push(QueryAnswer::Done(QueryDoneMsg::new(
        request_id, count, next,
    )));
    out
}

impl ShardCore {
    /// OrderQuery, OpenOrdersRequest, PositionsRequest, DoneOrdersRequest from an active
    /// session; `refusal` is the session's (rate limit), answered here.
    pub(super) fn account_query(
        &mut self,
        slot: u16,
        account: AccountId,
        query: AccountQuery,
        refusal: Option<RejectReason>,
    ) {
        debug_assert!(self.sessions.get_slot(slot).is_some_and(|s| s.is_active()));
        if refusal.is_some() {
            return self.deliver_answer(slot, &query.unanswered(refusal));
        }
        let (_, symbol, cursor) = query.fields();
        let owner = match symbol {
            0 => match self.shared.trading_shards.get(cursor.shard_index()) {
                Some(&shard) if !matches!(query, AccountQuery::ByClientId(_)) => {
                    Some(shard as usize)
                }
                _ => None,
            },
            symbol => self.shared.owner_of(symbol),
        };
        match owner {
            Some(owner) if owner == self.id as usize => {
                let answers = answer(&self.engine, &self.shared.trading_shards, account, &query);
                for a in answers.as_slice() {
                    self.deliver_answer(slot, a);
                }
            }
            Some(owner) => {
                let origin = self.me(slot);
                if let Some(session) = self.sessions.get_mut(origin) {
                    session.remote_in_flight += query.weight();
                }
                self.sender.query(owner as u16, origin, account, query);
            }
            // Symbol 0 with a cursor past the last trading shard: an empty
            // last page (an OrderQuery always names a symbol).
            None if symbol == 0 && !matches!(query, AccountQuery::ByClientId(_)) => {
                self.deliver_answer(slot, &query.unanswered(None))
            }
            None => self.deliver_answer(slot, &query.unanswered(Some(RejectReason::UnknownSymbol))),
        }
    }

    /// A query from a session on another shard: answered here, sent back.
    pub(super) fn remote_query(
        &mut self,
        origin: SessionRef,
        account: AccountId,
        query: &AccountQuery,
    ) {
        assert_ne!(origin.shard, self.id, "a local query is answered inline");
        let answers = answer(&self.engine, &self.shared.trading_shards, account, query);
        let weight = query.weight();
        let last = answers.as_slice().len() - 1;
        for (i, a) in answers.as_slice().iter().enumerate() {
            self.sender
                .answer(origin, *a, if i == last { weight } else { 0 });
        }
    }

    /// One answer message from another shard, for a session here.
    pub(super) fn remote_answer(&mut self, dest: SessionRef, answer: &QueryAnswer, releases: u32) {
        debug_assert_eq!(dest.shard, self.id);
        for _ in 0..releases {
            self.sessions.command_done(dest);
        }
        if self.sessions.get(dest).is_some_and(|s| !s.is_ended()) {
            self.deliver_answer(dest.slot, answer);
        }
    }

    fn deliver_answer(&mut self, slot: u16, answer: &QueryAnswer) {
        debug_assert!(slot < self.sessions.capacity());
        match answer {
            QueryAnswer::Status(m) => self.push_to(slot, m),
            QueryAnswer::Position(m) => self.push_to(slot, m),
            QueryAnswer::DoneOrder(m) => self.push_to(slot, m),
            QueryAnswer::Done(m) => self.push_to(slot, m),
        }
    }
}
