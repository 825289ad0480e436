//! Placeholder HyperLogLog (replaced by the workload branch's implementation on merge).
#![allow(missing_docs)]

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hll {
    precision: u8,
    registers: Vec<u8>,
}

impl Hll {
    pub fn new(precision: u8) -> Self {
        Hll { precision, registers: vec![0; 1 << precision] }
    }
    pub fn insert(&mut self, _item: u64) {}
    pub fn merge(&mut self, other: &Hll) {
        for (a, b) in self.registers.iter_mut().zip(&other.registers) {
            *a = (*a).max(*b);
        }
    }
    pub fn estimate(&self) -> u64 {
        0
    }
    pub fn precision(&self) -> u8 {
        self.precision
    }
}
