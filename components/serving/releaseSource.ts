/**
 * A literal this project relies on, cited where it stands in the pinned release's wheel (path under site-packages,
 * 1-based line): the conformance check (test/unit/conformance/releaseTexts.test.ts) reads the wheel and fails when
 * a bump of the release moves or changes it.
 */
export interface ReleaseSourceCitation {
  /** The literal as it appears in the Python source (an f-string's constant part). */
  readonly literal: string;
  readonly file: string;
  readonly line: number;
}
