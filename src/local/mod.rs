//! The local engine: the same zonal statistics computed on GeoTIFFs on this machine, with exact pixel coverage.
