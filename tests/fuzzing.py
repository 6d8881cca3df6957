"""Settings shared by the property tests that draw random programs and configurations."""
from hypothesis import HealthCheck, settings


def fuzz_settings(examples, **kwargs):
    """`examples` draws per test under the default "ci" profile, the same draws on every run
    (derandomized, so a run of the suite cannot fail by chance on a case the last one never
    drew); under `HYPOTHESIS_PROFILE=thorough` 8 times as many, new ones each run. No deadline
    and no health checks (the strategies draw large programs on purpose, and filter some)."""
    scale = settings().max_examples / settings.get_profile("ci").max_examples
    kwargs.setdefault("derandomize", scale == 1)
    return settings(max_examples=max(1, round(examples * scale)), deadline=None,
                    suppress_health_check=list(HealthCheck), **kwargs)
