//! The Earth Engine REST client: exports, operations get/list/cancel, authentication, retries.
