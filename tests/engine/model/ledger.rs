//! A ledger rebuilt from the event stream alone: per-order quantity
//! accounting (filled + open + canceled == total quantity after replaces),
//! positions as the signed sum of fills, the order and exec id sequences,
//! and the done orders (each order's final report, with the sum of its
//! fills' price x quantity). It knows nothing about books or matching.

use std::collections::BTreeMap;

use tradsys::engine::*;

use super::reference::sign;

#[derive(Clone, Debug)]
pub(crate) struct LOrder {
    pub(crate) account: AccountId,
    pub(crate) symbol: SymbolId,
    pub(crate) qty: Qty,
    pub(crate) filled: Qty,
    pub(crate) canceled: Qty,
    pub(crate) side: Side,
    pub(crate) client_order_id: ClientOrderId,
    pub(crate) notional: u128,
}

impl LOrder {
    pub(crate) fn open(&self) -> Qty {
        self.qty - self.filled - self.canceled
    }
}

/// What the events alone say: per order quantity accounting, per (account,
/// symbol) positions as the signed sum of fills, id sequences.
#[derive(Default)]
pub(crate) struct Ledger {
    pub(crate) orders: BTreeMap<OrderId, LOrder>,
    pub(crate) positions: BTreeMap<(AccountId, SymbolId), i64>,
    pub(crate) last_order_id: OrderId,
    pub(crate) last_exec_id: u64,
    /// Every order's final report in event order: (account, symbol, what
    /// a done-orders query should say, `done_seq` its position from 1).
    pub(crate) done: Vec<(AccountId, SymbolId, DoneOrder)>,
}

impl Ledger {
    pub(crate) fn order_mut(&mut self, order_id: OrderId) -> Result<&mut LOrder, String> {
        self.orders
            .get_mut(&order_id)
            .ok_or_else(|| format!("ledger: event for never-accepted order {order_id}"))
    }

    /// The order's final report came: it is done.
    fn finish(&mut self, order_id: OrderId, reason: Option<CancelReason>) -> Result<(), String> {
        let o = self.order_mut(order_id)?.clone();
        if o.open() != 0 {
            return Err(format!(
                "ledger: order {order_id} done with {} open",
                o.open()
            ));
        }
        let done = DoneOrder {
            order_id,
            client_order_id: o.client_order_id,
            side: o.side,
            cancel_reason: reason,
            filled_qty: o.filled,
            canceled_qty: o.canceled,
            notional: o.notional,
            done_seq: self.done.len() as u64 + 1,
        };
        self.done.push((o.account, o.symbol, done));
        Ok(())
    }

    pub(crate) fn apply(&mut self, event: &Event) -> Result<(), String> {
        match *event {
            Event::Accepted {
                order_id,
                account,
                symbol,
                qty,
                side,
                client_order_id,
                ..
            } => {
                if order_id != self.last_order_id + 1 {
                    return Err(format!("ledger: order id {order_id} out of sequence"));
                }
                self.last_order_id = order_id;
                self.orders.insert(
                    order_id,
                    LOrder {
                        account,
                        symbol,
                        qty,
                        filled: 0,
                        canceled: 0,
                        side,
                        client_order_id,
                        notional: 0,
                    },
                );
            }
            Event::Fill {
                exec_id,
                order_id,
                account,
                symbol,
                side,
                qty,
                leaves_qty,
                liquidity,
                price,
                client_order_id,
                ..
            } => {
                let expected_exec = match liquidity {
                    Liquidity::Aggressor => self.last_exec_id + 1,
                    Liquidity::Passive => self.last_exec_id,
                };
                if exec_id != expected_exec {
                    return Err(format!("ledger: exec id {exec_id} out of sequence"));
                }
                self.last_exec_id = exec_id;
                let o = self.order_mut(order_id)?;
                if (o.account, o.symbol) != (account, symbol) || qty == 0 || qty > o.open() {
                    return Err(format!("ledger: bad fill {event:?} for {o:?}"));
                }
                o.filled += qty;
                o.notional += price as u128 * qty as u128;
                o.client_order_id = client_order_id;
                if o.open() != leaves_qty {
                    return Err(format!("ledger: fill leaves {leaves_qty} != {}", o.open()));
                }
                if leaves_qty == 0 {
                    self.finish(order_id, None)?;
                }
                *self.positions.entry((account, symbol)).or_default() += sign(side) * qty as i64;
            }
            Event::Canceled {
                order_id,
                canceled_qty,
                client_order_id,
                reason,
                ..
            } => {
                let o = self.order_mut(order_id)?;
                if canceled_qty == 0 || canceled_qty != o.open() {
                    return Err(format!(
                        "ledger: cancel of {canceled_qty}, open {}",
                        o.open()
                    ));
                }
                o.canceled += canceled_qty;
                o.client_order_id = client_order_id;
                self.finish(order_id, Some(reason))?;
            }
            Event::Replaced {
                order_id,
                qty,
                leaves_qty,
                client_order_id,
                ..
            } => {
                let o = self.order_mut(order_id)?;
                if o.open() == 0 || qty <= o.filled || qty - o.filled != leaves_qty {
                    return Err(format!("ledger: bad replace {event:?} for {o:?}"));
                }
                o.qty = qty;
                o.client_order_id = client_order_id;
            }
            _ => {}
        }
        Ok(())
    }
}
