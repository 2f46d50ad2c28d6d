"""The film list: `ranker.recommend` is the one entry that ranks (the app, `fer.predict` and `fer.movies` call it).

`catalogue` holds IMDb's films (`python -m fer.movies refresh`), `neighbours` what MovieLens ratings teach
(`python -m fer.neighbours build`), `preferences` the mood x genre tastes learnt per person, `posters` OMDb's
optional pictures.
"""
