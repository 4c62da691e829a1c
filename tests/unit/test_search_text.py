"""What an image is found by (imagepipe.domain.search): words, colour names, the local
provider's tags, the searchable text and the local text embedding."""

from __future__ import annotations

import math

import pytest

from imagepipe.domain.search import (
    EMBEDDING_DIMENSION,
    colour_name,
    filename_words,
    local_tags,
    searchable_text,
    text_embedding,
    words,
)

METADATA = {
    "width": 4272,
    "height": 2848,
    "hasAlpha": False,
    "frames": 1,
    "colors": {"dominant": ["#c0392b", "#1f77b4", "#c23b2e"], "average": "#202020"},
    "exif": {"make": "Canon", "model": "EOS 5D Mark IV", "dateTimeOriginal": "2024-07-01T10:00:00"},
}


def test_words_are_folded_and_stripped_of_what_says_nothing() -> None:
    assert words("Café_au-lait, 2024! The IMG a") == ["cafe", "au", "lait", "2024"]
    assert words("") == []


def test_filename_words_drop_the_extension_and_split_camel_case() -> None:
    assert filename_words("IMG_2024_redCar-Bondi Beach.final.JPG") == [
        "2024",
        "red",
        "car",
        "bondi",
        "beach",
    ]
    assert filename_words("noextension") == ["noextension"]


@pytest.mark.parametrize(
    ("hex_colour", "name"),
    [
        ("#ff0000", "red"),
        ("#c0392b", "red"),
        ("#8c564b", "brown"),
        ("#ff7f0e", "orange"),
        ("#f0e68c", "yellow"),
        ("#2ca02c", "green"),
        ("#17becf", "teal"),
        ("#1f77b4", "blue"),
        ("#87ceeb", "blue"),
        ("#9467bd", "purple"),
        ("#e377c2", "pink"),
        ("#7f7f7f", "grey"),
        ("#050505", "black"),
        ("#fafafa", "white"),
    ],
)
def test_colour_names(hex_colour: str, name: str) -> None:
    assert colour_name(hex_colour) == name


def test_a_colour_that_is_not_one_has_no_name() -> None:
    assert colour_name("red") is None
    assert colour_name("#12345") is None


def test_local_tags_say_what_the_image_and_its_file_say() -> None:
    # Given the metadata job's analysis of a dark landscape photo with two reds and a blue
    # When the local provider tags it
    tags = local_tags("sunset over Bondi.jpg", METADATA)
    # Then the colours (once each), the orientation, the brightness, the camera, the year and
    # month it was taken and the filename's words, in that order
    assert tags == [
        "red",
        "blue",
        "landscape",
        "dark",
        "canon",
        "eos",
        "5d",
        "mark",
        "iv",
        "2024",
        "july",
        "sunset",
        "bondi",
    ]


def test_local_tags_of_a_transparent_animation_without_exif() -> None:
    metadata = {"width": 10, "height": 10, "hasAlpha": True, "frames": 3, "colors": {}}
    assert local_tags("x.gif", metadata) == ["square", "transparent", "animated"]


def test_searchable_text_joins_description_tags_camera_date_colours_and_filename() -> None:
    text = searchable_text(
        filename="beach-day.jpg",
        tags=["Beach", "Sunset", "red"],
        description="A red sunset over a beach.",
        metadata=METADATA,
    )
    assert text == (
        "A red sunset over a beach. Beach Sunset red Canon EOS 5D Mark IV 2024-07-01 blue beach day"
    )


def test_the_text_embedding_is_a_deterministic_unit_vector_of_the_words() -> None:
    # Given two texts sharing one word of two, and one sharing none
    red_car, red, blue = (text_embedding(t) for t in ("red car", "Red!", "blue boat"))
    assert red_car is not None
    assert red is not None
    assert blue is not None
    # Then each is a unit vector of the index's dimension, the same for the same words
    assert len(red_car) == EMBEDDING_DIMENSION
    assert math.isclose(math.fsum(v * v for v in red_car), 1.0)
    assert text_embedding("car red") == red_car
    # And the cosine is the share of words in common
    assert math.isclose(sum(a * b for a, b in zip(red_car, red, strict=True)), 2**-0.5)
    assert sum(a * b for a, b in zip(red_car, blue, strict=True)) == 0.0


def test_a_text_without_words_has_no_embedding() -> None:
    assert text_embedding("the a !!") is None
