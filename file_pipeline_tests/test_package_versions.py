from file_pipeline.package_versions import version_problems


def test_installed_dagster_packages_agree() -> None:
    assert version_problems() == []
