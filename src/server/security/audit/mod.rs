//! The security activity log: every authentication event, with time, person, address, browser and details, each
//! linked to the one before by a hash chain ([`chain`]).

//!
//! - [`event`]: what happened, by kind.
//! - [`log`]: recording an event.
//! - [`chain`]: the hash chain that links each event to the one before, and checking it.
//! - [`watch`]: the newest full check of the chain, rerun now and then.

pub mod chain;
pub mod event;
pub mod log;
pub mod watch;

pub use self::event::Event;
pub use self::log::{record, record_on};
