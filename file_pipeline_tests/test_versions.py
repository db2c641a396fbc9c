from file_pipeline.versions import version_problems


def test_installed_dagster_packages_agree() -> None:
    assert version_problems() == []
