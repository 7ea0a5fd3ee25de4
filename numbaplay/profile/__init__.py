"""Profiling of training iterations: per-phase times, exact GEMM FLOPs and the machine's floor.

    phases   timed Python re-runs of the rollout and update loops, bit-identical to the fused kernels,
             and `profile_training`, which measures iterations and builds the report
    flops    GEMM FLOPs per phase from the network spec and row counts; compulsory bytes
    machine  measured sgemm peak and memory bandwidth, cached per machine

Used by `numbaplay profile` and the benchmarks; it never prints.
"""
from numbaplay.profile.machine import machine_peaks
from numbaplay.profile.phases import PHASES, profile_training

__all__ = ["PHASES", "machine_peaks", "profile_training"]
