"""What every monitor shares, whatever the strategy.

- :mod:`~vlab.monitor.trace`: the :class:`Exit` record, exit reasons, the trap log and cost model;
- :mod:`~vlab.monitor.vcpu`: the virtual CPU, sole owner of the guest's believed state;
- :mod:`~vlab.monitor.handlers`: vlab's own handlers and the KVM-style handler table;
- :mod:`~vlab.monitor.dispatch`: turning events into exits and running their handlers;
- :mod:`~vlab.monitor.scanner` / :mod:`~vlab.monitor.translator`: finding code before it runs.
"""
