// The vitest configuration `npm run mutation` (Stryker) runs: the project's, with test files
// sharing one module cache. Stryker switches mutants at run time, so nothing needs re-importing
// between runs, and re-importing the SDKs for every mutant would cost more than the tests.
import { defineConfig, mergeConfig } from "vitest/config";
import base from "./vitest.config.ts";

export default mergeConfig(base, defineConfig({ test: { isolate: false } }));
