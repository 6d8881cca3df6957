"""Settings shared by the property tests that draw random programs and configurations."""
from hypothesis import HealthCheck, settings


def fuzz_settings(examples, **kwargs):
    """`examples` draws per test under the default "ci" profile, scaled with the profile
    loaded (`HYPOTHESIS_PROFILE=thorough`: 8 times as many); no deadline and no health
    checks (the strategies draw large programs on purpose, and some filter many draws)."""
    scale = settings().max_examples / settings.get_profile("ci").max_examples
    return settings(max_examples=max(1, round(examples * scale)), deadline=None,
                    suppress_health_check=list(HealthCheck), **kwargs)
