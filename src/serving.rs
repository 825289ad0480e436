//! The serving layer: what a Lambda user queries. It merges the last published batch view with
//! the speed layer's counts for everything after the batch view's cut-off.

use crate::query::{Table, add_into};

/// The served answers: batch view plus every live speed view.
pub fn merge<'a>(batch: Option<&Table>, speed: impl Iterator<Item = &'a Table>) -> Table {
    let mut served = batch.cloned().unwrap_or_default();
    for view in speed {
        add_into(&mut served, view);
    }
    served
}
