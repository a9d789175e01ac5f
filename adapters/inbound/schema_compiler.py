"""Marshmallow schemas compiled into plain functions for the common case: a valid message.

``compile_schema(schema)`` gives a function that, for data it accepts, returns exactly what
``schema.load(data)`` returns (the same keys in the same order, the same values and types), and
for anything else returns ``None``, so that ``schema.load`` decides and names the errors. It
accepts a subset of what the schema accepts: a field kind, a validator or a hook it does not know
makes it defer for the whole schema, never guess. The contract's answers and error messages
therefore stay marshmallow's, and the schemas stay the one declaration of the shapes; this only
skips marshmallow's per-field machinery (error stores, getters, partial loading), which costs
more than the checks themselves.

Custom field classes can be taught with ``@compiles(FieldClass)``, custom validators with
``@checks(ValidatorClass)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, missing, validate
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA

Convert = Callable[[Any, dict], Any]
"""A compiled field: the raw value and the object holding it → the loaded value, or ``Defer``."""


class Defer(Exception):
    """The compiled path does not answer for this input: let marshmallow load it."""


class Unsupported(Exception):
    """A schema uses something the compiler does not know: it always defers."""


_COMPILERS: dict[type, Callable[[fields.Field], Convert]] = {}
_CHECKS: dict[type, Callable[[Any], Callable[[Any], bool]]] = {}


def compiles(field_class: type) -> Callable:
    """Registers the compiler of one field class (exactly that class, not its subclasses)."""

    def register(compiler: Callable[[fields.Field], Convert]) -> Callable[[fields.Field], Convert]:
        _COMPILERS[field_class] = compiler
        return compiler

    return register


def checks(validator_class: type) -> Callable:
    """Registers the compiled form of one validator class (exactly that class): a function of
    the validator giving a predicate that is true exactly where the validator passes. It gets
    the value once the field has converted it (a ``str`` for a ``String``)."""

    def register(compiler: Callable[[Any], Callable[[Any], bool]]) -> Callable:
        _CHECKS[validator_class] = compiler
        return compiler

    return register


def compile_schema(schema: Schema) -> Callable[[Any], dict | None]:
    """``schema.load``'s result for data the compiled path accepts; ``None`` otherwise."""
    try:
        check = schema_checker(schema)
    except Unsupported:
        return lambda data: None

    def load(data: Any) -> dict | None:
        try:
            return check(data, data)
        except Defer:
            return None

    return load


def schema_checker(schema: Schema) -> Convert:
    """A nested schema's load as a compiled field; raises ``Defer`` for what it does not accept."""
    hooks = schema._hooks
    if schema.many or hooks[PRE_LOAD] or hooks[POST_LOAD] or hooks[VALIDATES]:
        raise Unsupported(f"{type(schema).__name__} has hooks or many=True")
    if schema.unknown != EXCLUDE or schema.partial:
        raise Unsupported(f"{type(schema).__name__} keeps unknown fields or loads partially")
    entries = []
    for name, field in schema.load_fields.items():
        if field.data_key is not None or field.attribute is not None:
            raise Unsupported(f"{name} is renamed")
        entries.append((name, field_checker(field), field.required, field.load_default))
    validators = []
    for attr, pass_many, options in hooks[VALIDATES_SCHEMA]:
        if pass_many or options.get("pass_original"):
            raise Unsupported(f"{attr} validates collections or the original data")
        validators.append(getattr(schema, attr))
    unknown = schema.unknown

    def check(data: Any, _parent: Any) -> dict:
        if type(data) is not dict:
            raise Defer
        out: dict = {}
        for name, convert, required, default in entries:
            value = data.get(name, missing)
            if value is missing:
                if required:
                    raise Defer
                if default is not missing:
                    out[name] = default() if callable(default) else default
                continue
            out[name] = convert(value, data)
        for validator in validators:
            try:
                validator(out, partial=None, many=False, unknown=unknown)
            except ValidationError:
                raise Defer from None
        return out

    return check


def field_checker(field: fields.Field) -> Convert:
    """One field: null handling, its own conversion, then its validators, as marshmallow runs them."""
    if field.pre_load or field.post_load:
        raise Unsupported("field-level pre_load/post_load")
    compiler = _COMPILERS.get(type(field))
    if compiler is None:
        raise Unsupported(f"no compiler for {type(field).__name__}")
    convert = compiler(field)
    checks = [validator_check(v) for v in field.validators]
    allow_none = field.allow_none

    if not checks:
        def checked(value: Any, data: Any) -> Any:
            if value is None:
                if allow_none:
                    return None
                raise Defer
            return convert(value, data)
        return checked

    def validated(value: Any, data: Any) -> Any:
        if value is None:
            if allow_none:
                return None
            raise Defer
        out = convert(value, data)
        for check in checks:
            if not check(out):
                raise Defer
        return out

    return validated


def validator_check(validator: Any) -> Callable[[Any], bool]:
    """A validator as a predicate; only validators whose rule is plain enough to restate."""
    kind = type(validator)
    if kind is validate.Length:
        low, high, equal = validator.min, validator.max, validator.equal
        if equal is not None:
            return lambda v: len(v) == equal
        if high is None:
            return lambda v: low is None or len(v) >= low
        if low is None:
            return lambda v: len(v) <= high
        return lambda v: low <= len(v) <= high
    if kind is validate.OneOf:
        choices = tuple(validator.choices)
        if not all(type(c) is str for c in choices):
            raise Unsupported("OneOf over values other than strings")
        allowed = frozenset(choices)
        return lambda v: type(v) is str and v in allowed
    if kind is validate.Range:
        low, high = validator.min, validator.max
        low_in, high_in = validator.min_inclusive, validator.max_inclusive

        def in_range(v: Any) -> bool:
            if low is not None and (v < low if low_in else v <= low):
                return False
            if high is not None and (v > high if high_in else v >= high):
                return False
            return True

        return in_range
    if kind is validate.Equal:
        expected = validator.comparable
        return lambda v: v == expected
    if kind in _CHECKS:
        return _CHECKS[kind](validator)
    raise Unsupported(f"no compiled form of {kind.__name__}")


# -- the field kinds ----------------------------------------------------------------------------


def exactly(kind: type) -> Convert:
    """The value as it is when its type is exactly ``kind`` (no subclass: a bool is no int)."""

    def convert(value: Any, data: Any) -> Any:
        if type(value) is not kind:
            raise Defer
        return value

    return convert


@compiles(fields.String)
def _string(field: fields.Field) -> Convert:
    return exactly(str)


@compiles(fields.Integer)
def _integer(field: fields.Field) -> Convert:
    if field.as_string:
        raise Unsupported("Integer(as_string=True)")
    return exactly(int)


@compiles(fields.Dict)
def _dict(field: fields.Field) -> Convert:
    if field.key_field is not None or field.value_field is not None or field.mapping_type is not dict:
        raise Unsupported("Dict with typed keys or values")

    def convert(value: Any, data: Any) -> dict:
        if type(value) is not dict:
            raise Defer
        return dict(value)
    return convert


@compiles(fields.List)
def _list(field: fields.Field) -> Convert:
    inner = field_checker(field.inner)

    def convert(value: Any, data: Any) -> list:
        if type(value) is not list:
            raise Defer
        return [inner(item, data) for item in value]
    return convert


@compiles(fields.Nested)
def _nested(field: fields.Field) -> Convert:
    if field.many or (field.unknown is not None and field.unknown != EXCLUDE):
        raise Unsupported("Nested(many=True) or with its own unknown")
    return schema_checker(field.schema)


@compiles(fields.AwareDateTime)
def _aware_datetime(field: fields.Field) -> Convert:
    def convert(value: Any, data: Any) -> Any:
        if type(value) is not str:
            raise Defer
        try:
            return field._deserialize(value, None, data)
        except ValidationError:
            raise Defer from None
    return convert


def finite_number(value: Any, data: Any) -> int | float:
    """A JSON number as it arrived: an int, or a finite float."""
    kind = type(value)
    if kind is int or (kind is float and math.isfinite(value)):
        return value
    raise Defer


def json_boolean(value: Any, data: Any) -> bool:
    if value is True or value is False:
        return value
    raise Defer
