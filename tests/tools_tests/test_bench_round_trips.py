"""The bench's critical path: calls that overlap count as one round trip."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
spec = importlib.util.spec_from_file_location("bench", REPO / "tests" / "bench.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_calls_one_after_another_are_each_a_round_trip():
    timeline = [(0.0, 1.0, "ec2:DescribeInstances"), (1.0, 2.0, "dynamodb:BatchGetItem"),
                (2.5, 3.0, "dynamodb:TransactWriteItems")]
    assert bench.round_trips(timeline) == 3


def test_calls_that_overlap_went_out_together():
    # EC2 and the lock items at once; then the write; then two zones' batches and the tag.
    timeline = [(0.0, 1.0, "ec2:DescribeInstances"), (0.1, 0.8, "dynamodb:BatchGetItem"),
                (1.1, 2.0, "dynamodb:TransactWriteItems"),
                (2.1, 3.0, "route53:ChangeResourceRecordSets"),
                (2.1, 2.9, "route53:ChangeResourceRecordSets"), (2.2, 2.6, "ec2:CreateTags")]
    assert bench.round_trips(timeline) == 3
    # A long call beside a chain of short ones: the chain is the critical path.
    timeline = [(0.0, 5.0, "ec2:DescribeInstances"), (0.1, 0.2, "a"), (0.3, 0.4, "b"),
                (0.5, 0.6, "c")]
    assert bench.round_trips(timeline) == 3
    assert bench.round_trips([]) == 0
