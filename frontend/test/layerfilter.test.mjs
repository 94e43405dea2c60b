// Unit tests of layerfilter.js (node --test): the same answers as the
// browser's RegExp, in time linear in the name, whatever the pattern.
import assert from "node:assert/strict";
import test from "node:test";

import {
  MAX_PATTERN, compilePattern, layerFilter, matchWork,
} from "../layerfilter.js";

const NAMES = ["transformer_block_10/multi_head_attention_10", "Dense_1",
  "block_2/gate", "a\nb", "x.y", "", "abc", "aaa", "input_dense",
  "block_1/dense", "output"];

const PATTERNS = ["GATE", "block_[12]/", "^dense", "dense_\\d+$", "a|x\\.y",
  "^$", "(a*)*b", "a{2,}", "a{3}", "a{1,2}c", "[^a-z]", "[A-Z]", "\\bgate\\b",
  "\\Bate", "attention_1[0-2]$", ".", "a.b", "[]", "[^]", "(?:ab)+c?",
  "(?<n>ab)", "a+?", "x{", "x{1", "\\x41", "[\\w]+/", "\\W", "[a-]",
  "a{,2}", "\\s", "\\S+", "(dense|gate)$", "^(block_\\d/)?dense$",
  "[\\d_]+", "o.t.u"];

test("the filter answers as RegExp(pattern, 'i') does", () => {
  for (const pattern of PATTERNS) {
    assert.ok(compilePattern(pattern), pattern);
    const re = new RegExp(pattern, "i");
    const keep = layerFilter(pattern);
    for (const name of NAMES) {
      assert.equal(keep(name), re.test(name),
          `${JSON.stringify(pattern)} on ${JSON.stringify(name)}`);
    }
  }
});

test("what is no expression, or needs backtracking, matches as text", () => {
  for (const pattern of ["dense(", "a)", "[z-a]", "*a", "^*", "ab(?=c)",
    "(a)\\1", "x{5,2}", "a{3000}", "(){99999999}", "x".repeat(MAX_PATTERN + 1)]) {
    assert.equal(compilePattern(pattern), null, pattern);
  }
  assert.ok(layerFilter("dense(")("Dense(1)"));
  assert.ok(!layerFilter("dense(")("dense"));
  assert.ok(layerFilter("(a)\\1")("x(A)\\1"));
  assert.ok(layerFilter("")("anything"));
  assert.ok(layerFilter("   ")("anything"));
});

test("a crafted pattern costs work linear in the name", () => {
  // A backtracking engine takes 2^n steps on these (2^40 for the first on
  // one of these names): here each instruction is visited at most once
  // per position of the name.
  const names = Array.from({length: 30}, (_, i) =>
    `transformer_block_${i}/multi_head_attention_${i}`);
  for (const pattern of ["([a-z_0-9/]+)+!", "(a|_)*!", "(.*){20}!",
    "((a+)+)+$x"]) {
    const keep = layerFilter(pattern);
    for (const name of names) {
      assert.equal(keep(name), false);
      const {matched, steps, bound} = matchWork(pattern, name.repeat(20));
      assert.equal(matched, false);
      assert.ok(steps <= bound, `${pattern}: ${steps} > ${bound}`);
    }
  }
  assert.ok(layerFilter("([a-z_0-9/]+)+")("transformer_block_1/x"));
});
