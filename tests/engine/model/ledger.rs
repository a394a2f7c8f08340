//! A ledger rebuilt from the event stream alone: per-order quantity
//! accounting (filled + open + canceled == total quantity after replaces),
//! positions as the signed sum of fills, and the order and exec id sequences.
//! It knows nothing about books or matching.

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
}

impl Ledger {
    pub(crate) fn order_mut(&mut self, order_id: OrderId) -> Result<&mut LOrder, String> {
        self.orders
            .get_mut(&order_id)
            .ok_or_else(|| format!("ledger: event for never-accepted order {order_id}"))
    }

    pub(crate) fn apply(&mut self, event: &Event) -> Result<(), String> {
        match *event {
            Event::Accepted {
                order_id,
                account,
                symbol,
                qty,
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
                if o.open() != leaves_qty {
                    return Err(format!("ledger: fill leaves {leaves_qty} != {}", o.open()));
                }
                *self.positions.entry((account, symbol)).or_default() += sign(side) * qty as i64;
            }
            Event::Canceled {
                order_id,
                canceled_qty,
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
            }
            Event::Replaced {
                order_id,
                qty,
                leaves_qty,
                ..
            } => {
                let o = self.order_mut(order_id)?;
                if o.open() == 0 || qty <= o.filled || qty - o.filled != leaves_qty {
                    return Err(format!("ledger: bad replace {event:?} for {o:?}"));
                }
                o.qty = qty;
            }
            _ => {}
        }
        Ok(())
    }
}
