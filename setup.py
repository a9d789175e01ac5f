from setuptools import find_packages, setup

setup(
    name="towns",
    version="0.1.0",
    description="Case management for the Guangdong 'Internet+' towns programme",
    python_requires=">=3.11",
    packages=find_packages(include=["domain*", "projections*", "workers*", "adapters*"]),
    package_data={"adapters": [
        "towns.toml", "inbound/demo_batch.jsonl",
        "http/templates/*.html", "http/static/*.css", "http/static/js/*.js",  # the web page
    ]},
    install_requires=[
        "eventsourcing[postgres]==9.5.6",  # its on-disk formats are part of our data
        "psycopg[binary]>=3.2,<4",  # the C implementation: several times faster reads
        "dramatiq[rabbitmq]>=2.2,<2.3",
        "pika>=1.3,<2",
        "marshmallow>=4,<5",
        "flask>=3,<4",
        "flask-smorest>=0.46,<0.48",
        "waitress>=3,<4",
        "prometheus_client>=0.20,<1",  # GET /metrics and TOWNS_METRICS_PORT
        "cryptography>=42,<47",  # Ed25519 signatures of the audit log's tree heads
        "orjson>=3.9,<4",  # the read models parse the stored JSON twice as fast (projections.base)
        "rich>=13,<15",  # the progress bars of the long commands (adapters.cli.progress)
    ],
    extras_require={
        "test": ["pytest>=8", "hypothesis>=6.100", "selenium>=4.20,<5", "pyyaml>=6,<7"],  # selenium: the web page
    },
    entry_points={"console_scripts": ["towns = adapters.cli:main"]},
)
