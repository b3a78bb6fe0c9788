"""SplitMix64 and the shuffles built on it: published reference values, and the properties the
batch order and the --limit sample rely on. (Bit-for-bit agreement with the Swift tool is
checked end to end in test_parity.py: identical seeded adapters and identical samples.)"""
import random

import numpy as np

from strawberry_torch.data import epoch_batches
from strawberry_torch.evaluate import sample_words
from strawberry_torch.rng import SplitMix64, fnv1a_seeded, seeded_shuffle


def test_reference_values_seed_0():
    # The first outputs of Vigna's splitmix64.c started from x = 0.
    r = SplitMix64(0)
    assert [r.next() for _ in range(4)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F, 0xF88BB8A8724C81EC]


def test_state_wraps_at_2_64():
    r = SplitMix64(2**64 - 1)
    r.next()
    assert r.state == (2**64 - 1 + 0x9E3779B97F4A7C15) % 2**64


def test_uniform_is_top_53_bits():
    a, b = SplitMix64(7), SplitMix64(7)
    assert a.uniform() == (b.next() >> 11) / 2**53


def test_vectorised_uniforms_equal_the_scalar_stream():
    a, b = SplitMix64(123456789), SplitMix64(123456789)
    block = a.uniforms(1000)
    assert np.array_equal(block, np.array([b.uniform() for _ in range(1000)]))
    assert a.next() == b.next()   # both streams continue from the same state


def test_below_is_in_range_and_rejects_the_biased_tail():
    r = SplitMix64(1)
    assert all(0 <= r.below(n) < n for n in range(1, 200))
    # n = 2^63 + 1: the limit is 2^63 + 1, so any draw ≥ it is rejected and redrawn.
    n = 2**63 + 1
    r, ref = SplitMix64(5), SplitMix64(5)
    got = r.below(n)
    limit = (2**64 - 1) - (2**64 - 1) % n
    while True:
        x = ref.next()
        if x < limit:
            assert got == x % n
            break


def test_seeded_shuffle_is_a_deterministic_permutation():
    a, b = list(range(50)), list(range(50))
    seeded_shuffle(a, SplitMix64(42))
    seeded_shuffle(b, SplitMix64(42))
    assert a == b and sorted(a) == list(range(50)) and a != list(range(50))


def test_epoch_batches_cover_every_example_once_sorted_within_windows():
    rnd = random.Random(0)
    lengths = [rnd.randint(5, 40) for _ in range(237)]
    batches = epoch_batches(237, lengths, 4, seed=42, epoch=0)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(237))
    assert len(batches) == 60  # ceil(237 / 4)
    for b in batches:
        assert [(lengths[i], i) for i in b] == sorted((lengths[i], i) for i in b)
    assert epoch_batches(237, lengths, 4, seed=42, epoch=1) != batches
    assert epoch_batches(237, lengths, 4, seed=42, epoch=0) == batches


def test_sample_words_one_per_zone():
    words = [f"w{i:03d}" for i in range(100)] + ["ab", "abc", "w000"]   # a duplicate is one word
    got = sample_words(words, 10, seed=3)
    assert len(got) == 10 and len(set(got)) == 10
    assert sample_words(words, 10, seed=3) == got
    assert sample_words(words, 10, seed=4) != got
    assert sample_words(words, 500, seed=3) == sorted(set(words), key=lambda w: (len(w), w[0], fnv1a_seeded(w, 3), w))
