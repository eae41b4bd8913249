//! Earth Engine expressions: the value graph (`Expression{values, result}`) geepipe sends, built from
//! nested `call` templates with placeholders rendered value by value, checked against the algorithm
//! signatures.
