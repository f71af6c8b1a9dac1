/**
 * Bounds on a distribution's core metadata that no real package comes near, so that a hostile file
 * costs the extractor, the database and the JSON API little. Measured with bench/metadata-sizes.ts
 * over 967 real wheels of ~900 PyPI projects: the largest METADATA is 232,823 bytes (mujoco 3.14.0,
 * a long description), the most requirements 457 (transformers 4.57.6, every extra spelled out).
 * A file beyond either bound is recorded as a failed extraction.
 */

/** Largest METADATA / PKG-INFO accepted, uncompressed: 4 MiB, 18× the largest measured. */
export const MAX_METADATA_BYTES = 4 * 1024 * 1024;

/** Most requirements (`Requires-Dist`, or legacy `Requires`) one distribution may declare: 10× the most measured. */
export const MAX_REQUIREMENTS = 5000;
