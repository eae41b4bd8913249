//! The executor: submits planned tasks, watches them, retries or splits failures, and reports events.
