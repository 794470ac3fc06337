// The parts of jstat (no published types) this project uses.
declare module "jstat" {
  interface StudentT {
    /** Quantile of Student's t distribution with `dof` degrees of freedom. */
    inv(p: number, dof: number): number;
  }
  interface JStatStatic {
    studentt: StudentT;
    /** A gamma(shape, 1) deviate (Marsaglia–Tsang) drawn from the current random function. */
    randg(shape: number): number;
    /** Replaces the uniform [0, 1) source used by every sampler (module-global). */
    setRandom(fn: () => number): void;
    _random_fn: () => number;
  }
  export const jStat: JStatStatic;
}
