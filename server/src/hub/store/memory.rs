//! The store that keeps nothing: history lasts as long as the process.

use super::{Change, Recovered, Store, StoreError};

#[derive(Debug, Default)]
pub struct Memory;

impl Store for Memory {
    fn is_durable(&self) -> bool {
        false
    }

    fn recover(&mut self) -> Result<Recovered, StoreError> {
        Ok(Recovered::default())
    }

    fn commit(&mut self, _changes: &[Change<'_>]) -> Result<(), StoreError> {
        Ok(())
    }

    fn close(&mut self) {}
}
