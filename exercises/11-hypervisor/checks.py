from vlab.grading.core import Exercise
from vlab.grading.hypervisor import (
    LABELS,
    SUBMISSION,
    console_as_native,
    kernel_exits,
    runs_to_end,
    scenario,
)

EXERCISE = Exercise(
    name="11-hypervisor",
    title="The exit handler of a hypervisor, in assembly (VMREAD, VMWRITE, VMRESUME)",
    handlers=LABELS,
    language="assembly",
    submission_name=SUBMISSION,
    scenarios=[
        scenario("the teaching kernel under your hypervisor", "kernel",
                 [runs_to_end(1), console_as_native("kernel", 3), kernel_exits(2)], seed=False),
    ])
